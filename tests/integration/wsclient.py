"""wsclient - a small RFC 6455 websocket client for the tests.

Python's standard library has no websocket client, so this one is written to
be easy to misuse on purpose: besides the well-behaved calls (send_text,
send_binary, recv_message, close) it can build any frame by hand (no mask,
reserved bits, wrong lengths, fragments, control frames anywhere) and send
several frames in one TCP write.

    from wsclient import WSClient
    ws = WSClient.connect("127.0.0.1", port, "/echo")
    ws.send_text("hi")
    assert ws.recv_message() == (OP_TEXT, b"hi")
    ws.close(1000)
"""

import base64
import hashlib
import os
import re
import socket
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


class HandshakeError(Exception):
    def __init__(self, status, headers, body):
        Exception.__init__(self, "handshake answered %s" % status)
        self.status = status
        self.headers = headers
        self.body = body


class ConnectionClosed(Exception):
    pass


def accept_for(key):
    """The Sec-WebSocket-Accept value a server must answer for key (str)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def mask_bytes(data, key):
    if not data:
        return b""
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None, length=None):
    """Bytes of one client frame.  rsv: the three RSV bits as 0-7.
    length: lie about the payload length (the header says length)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def http_upgrade_request(path, host, key=None, version="13", headers=None, omit=(),
                         method="GET"):
    """The bytes of an upgrade request.  omit: header names to leave out."""
    h = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
         ("Sec-WebSocket-Key", key if key is not None else new_key()),
         ("Sec-WebSocket-Version", version)]
    h = [(k, v) for k, v in h if k.lower() not in [o.lower() for o in omit]]
    h += list((headers or {}).items())
    lines = ["%s %s HTTP/1.1" % (method, path)] + ["%s: %s" % kv for kv in h]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class WSClient:
    def __init__(self, sock, buffered=b""):
        self.sock = sock
        self.buf = bytearray(buffered)
        self.status = None
        self.headers = {}

    # ---- connecting -------------------------------------------------------
    @classmethod
    def open_socket(cls, host, port, timeout=10, ssl_context=None, server_hostname=None):
        s = socket.create_connection((host, port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            s = ssl_context.wrap_socket(s, server_hostname=server_hostname or host)
        return s

    @classmethod
    def connect(cls, host, port, path="/", key=None, version="13", headers=None, omit=(),
                timeout=10, ssl_context=None, server_hostname=None, after=b"",
                method="GET"):
        """Open a socket, do the handshake (plus `after`: bytes sent in the same
        write right behind the request), check the 101 answer.  Raises
        HandshakeError for any other status."""
        s = cls.open_socket(host, port, timeout, ssl_context, server_hostname)
        c = cls(s)
        key = key if key is not None else new_key()
        req = http_upgrade_request(path, "%s:%d" % (host, port), key, version, headers, omit,
                                   method)
        s.sendall(req + after)
        status, hd, body = c.read_http_response()
        c.status, c.headers = status, hd
        if status != 101:
            s.close()
            raise HandshakeError(status, hd, body)
        if hd.get("sec-websocket-accept") != accept_for(key):
            s.close()
            raise AssertionError("bad Sec-WebSocket-Accept %r for key %r"
                                 % (hd.get("sec-websocket-accept"), key))
        return c

    def read_http_response(self):
        """Status, headers (lower-case names), body of an HTTP answer."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        status = int(m.group(1))
        hd = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            hd[k] = hd[k] + ", " + v.strip() if k in hd else v.strip()
        body = b""
        if status != 101 and "content-length" in hd:
            n = int(hd["content-length"])
            while len(self.buf) < n:
                self._fill()
            body = bytes(self.buf[:n])
            del self.buf[:n]
        return status, hd, body

    # ---- raw I/O -------------------------------------------------------------
    def _fill(self):
        d = self.sock.recv(1 << 16)
        if not d:
            raise ConnectionClosed("EOF")
        self.buf += d

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def recv_frame(self):
        """(fin, rsv, opcode, masked, payload) of the next server frame."""
        b0, b1 = self._take(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        masked = bool(b1 & 0x80)
        key = self._take(4) if masked else None
        payload = self._take(n)
        if masked:
            payload = mask_bytes(payload, key)
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, masked, payload

    # ---- messages ---------------------------------------------------------
    def send_text(self, s):
        self.send_frame(OP_TEXT, s.encode() if isinstance(s, str) else s)

    def send_binary(self, b):
        self.send_frame(OP_BINARY, b)

    def ping(self, payload=b""):
        self.send_frame(OP_PING, payload)

    def recv_message(self, controls=False):
        """Next data message as (opcode, payload), fragments joined.  Control
        frames: returned as (opcode, payload) when controls is true, else a
        close raises ConnectionClosed and pings/pongs are skipped."""
        op = None
        parts = []
        while True:
            fin, rsv, fop, masked, payload = self.recv_frame()
            if rsv or masked:
                raise AssertionError("server frame with rsv=%d masked=%s" % (rsv, masked))
            if fop >= 0x8:
                if controls:
                    return fop, payload
                if fop == OP_CLOSE:
                    raise ConnectionClosed(parse_close(payload))
                continue
            if op is None:
                if fop == OP_CONT:
                    raise AssertionError("server sent a continuation first")
                op = fop
            elif fop != OP_CONT:
                raise AssertionError("server interleaved a new message in a fragmented one")
            parts.append(payload)
            if fin:
                return op, b"".join(parts)

    def recv_close(self):
        """Skip data until the server's close frame; returns (code, reason)."""
        while True:
            fin, rsv, op, masked, payload = self.recv_frame()
            if op == OP_CLOSE:
                return parse_close(payload)

    def close(self, code=1000, reason=b""):
        """Send a close frame and return the server's answer (code, reason)."""
        self.send_frame(OP_CLOSE, close_payload(code, reason))
        return self.recv_close()

    def wait_eof(self, timeout=5):
        """True if the server closes the TCP connection within timeout
        (data that arrives first is dropped)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(1 << 16)
                if not d:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def shutdown(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_close(payload):
    """(code, reason bytes) of a close payload; (None, b"") if empty."""
    if not payload:
        return None, b""
    if len(payload) < 2:
        raise AssertionError("close payload of one byte")
    return struct.unpack("!H", payload[:2])[0], payload[2:]
