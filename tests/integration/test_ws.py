"""mod_ws: RFC 6455 websockets, exercised with a real client (wsclient.py)
against the built-in echo route (Map ws:/echo ws:echo)."""
import os
import signal
import socket
import ssl
import shutil
import struct
import tempfile
import threading
import time
import unittest

from rptest import Server
from wsclient import (WSClient, HandshakeError, ConnectionClosed, frame, close_payload,
                      accept_for, http_upgrade_request, OP_CONT, OP_TEXT, OP_BINARY,
                      OP_CLOSE, OP_PING, OP_PONG)
from test_tls import make_pki

CONF = ("LoadModule ws mod_ws.so\nLoadModule static mod_static.so\n"
        "Map ws:/echo ws:echo\nMap / {www}\n")
FILES = {"www/index.html": "<h1>still here</h1>\n"}


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class WSBase(unittest.TestCase):
    conf = CONF

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(conf=cls.conf, files=FILES)

    @classmethod
    def tearDownClass(cls):
        srv = cls.srv
        srv.stop()
        rep = srv.sanitizer_report()
        srv.cleanup(keep=bool(rep))
        if rep:
            raise AssertionError("sanitizer report:\n" + rep)

    def ws(self, path="/echo", **kw):
        return WSClient.connect("127.0.0.1", self.srv.port, path, **kw)

    def expect_close(self, c, code):
        """The server's next frames end with a close carrying code, then EOF."""
        got, _ = c.recv_close()
        self.assertEqual(got, code)
        self.assertTrue(c.wait_eof(), "server did not close the TCP connection")
        c.shutdown()

    def assert_http_ok(self):
        st, _, body = self.srv.get("/")
        self.assertEqual(st, 200)
        self.assertIn(b"still here", body)


class Handshake(WSBase):
    def test_accept_value_rfc_example(self):
        # RFC 6455 section 1.3: this key must give this accept value.
        self.assertEqual(accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        c = self.ws(key="dGhlIHNhbXBsZSBub25jZQ==")
        self.assertEqual(c.status, 101)
        self.assertEqual(c.headers["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        self.assertEqual(c.headers["upgrade"].lower(), "websocket")
        self.assertIn("upgrade", c.headers["connection"].lower())
        self.assertNotIn("content-length", c.headers)
        self.assertNotIn("transfer-encoding", c.headers)
        c.close()
        c.shutdown()

    def test_accept_value_random_keys(self):
        for _ in range(5):
            c = self.ws()  # connect() checks the accept value for its random key
            c.close()
            c.shutdown()

    def test_tokens_in_lists_and_case(self):
        c = self.ws(omit=("Upgrade", "Connection"),
                    headers={"Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade"})
        c.send_text("x")
        self.assertEqual(c.recv_message(), (OP_TEXT, b"x"))
        c.close()
        c.shutdown()

    def test_version_not_13_is_426(self):
        for v in ("8", "12", "14", "abc"):
            with self.assertRaises(HandshakeError) as cm:
                self.ws(version=v)
            self.assertEqual(cm.exception.status, 426, v)
            self.assertEqual(cm.exception.headers.get("sec-websocket-version"), "13")

    def test_missing_key_is_400(self):
        with self.assertRaises(HandshakeError) as cm:
            self.ws(omit=("Sec-WebSocket-Key",))
        self.assertEqual(cm.exception.status, 400)

    def test_bad_key_is_400(self):
        for key in ("short", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=!",
                    "dGhlIHNhbXBsZSBub25jZSBhbmQgbW9yZQ=="):
            with self.assertRaises(HandshakeError) as cm:
                self.ws(key=key)
            self.assertEqual(cm.exception.status, 400, key)

    def test_missing_version_is_400(self):
        with self.assertRaises(HandshakeError) as cm:
            self.ws(omit=("Sec-WebSocket-Version",))
        self.assertEqual(cm.exception.status, 400)

    def test_missing_connection_upgrade_is_400(self):
        with self.assertRaises(HandshakeError) as cm:
            self.ws(omit=("Connection",))
        self.assertEqual(cm.exception.status, 400)

    def test_post_is_400(self):
        with self.assertRaises(HandshakeError) as cm:
            self.ws(method="POST", headers={"Content-Length": "0"})
        self.assertEqual(cm.exception.status, 400)

    def test_plain_get_on_ws_route_is_not_served(self):
        # ws: keys match only upgrade requests; a plain GET falls to "/".
        st, _, _ = self.srv.get("/echo")
        self.assertEqual(st, 404)
        self.assert_http_ok()


class Messages(WSBase):
    def test_echo_text_and_binary(self):
        c = self.ws()
        c.send_text("hello")
        self.assertEqual(c.recv_message(), (OP_TEXT, b"hello"))
        c.send_text("h\u00e9llo \u20ac \U0001F600")
        self.assertEqual(c.recv_message(), (OP_TEXT, "h\u00e9llo \u20ac \U0001F600".encode()))
        blob = bytes(range(256)) * 3
        c.send_binary(blob)
        self.assertEqual(c.recv_message(), (OP_BINARY, blob))
        c.send_text("")
        self.assertEqual(c.recv_message(), (OP_TEXT, b""))
        c.send_binary(b"")
        self.assertEqual(c.recv_message(), (OP_BINARY, b""))
        for n in (125, 126, 127, 65535, 65536, 70000):  # each length encoding
            d = os.urandom(n)
            c.send_binary(d)
            self.assertEqual(c.recv_message(), (OP_BINARY, d), n)
        c.close()
        c.shutdown()

    def test_server_frames_unmasked_final(self):
        c = self.ws()
        c.send_text("abc")
        fin, rsv, op, masked, payload = c.recv_frame()
        self.assertEqual((fin, rsv, op, masked, payload), (True, 0, OP_TEXT, False, b"abc"))
        c.close()
        c.shutdown()

    def test_fragmented_text_split_mid_character(self):
        data = "\u00e9t\u00e9 \u20ac \U0001F600!".encode()
        # split inside the 2-byte e-acute, inside the euro sign and inside the emoji
        cuts = [1, data.index(b"\xe2") + 1, data.index(b"\xe2") + 2, data.index(b"\xf0") + 3]
        pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        c = self.ws()
        raw = b""
        for i, p in enumerate(pieces):
            raw += frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(pieces) - 1)
        c.send_raw(raw)
        self.assertEqual(c.recv_message(), (OP_TEXT, data))
        # the same, one fragment per TCP write
        for i, p in enumerate(pieces):
            c.send_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(pieces) - 1)
            time.sleep(0.02)
        self.assertEqual(c.recv_message(), (OP_TEXT, data))
        # empty fragments are fine too
        c.send_raw(frame(OP_BINARY, b"", fin=False) + frame(OP_CONT, b"ab", fin=False)
                   + frame(OP_CONT, b"", fin=True))
        self.assertEqual(c.recv_message(), (OP_BINARY, b"ab"))
        c.close()
        c.shutdown()

    def test_interleaved_ping_between_fragments(self):
        c = self.ws()
        c.send_raw(frame(OP_TEXT, "part one, ", fin=False) + frame(OP_PING, b"in between")
                   + frame(OP_CONT, "part two", fin=False) + frame(OP_PONG, b"unsolicited")
                   + frame(OP_CONT, "!", fin=True))
        self.assertEqual(c.recv_message(controls=True), (OP_PONG, b"in between"))
        self.assertEqual(c.recv_message(controls=True), (OP_TEXT, b"part one, part two!"))
        c.close()
        c.shutdown()

    def test_ping_125_pong_same_payload(self):
        c = self.ws()
        for payload in (b"", b"x", os.urandom(125)):
            c.ping(payload)
            self.assertEqual(c.recv_message(controls=True), (OP_PONG, payload))
        c.close()
        c.shutdown()

    def test_large_message_1mb(self):
        c = self.ws()
        big = os.urandom(1024 * 1024)
        c.send_binary(big)
        self.assertEqual(c.recv_message(), (OP_BINARY, big))
        text = ("\u00e9\u20ac" * 200000).encode()[:1024 * 1024 - 1]
        text = text[:len(text) - len(text) % 5]  # whole characters (2 + 3 bytes)
        # in 64 KiB fragments, which split characters
        raw = b""
        step = 65536
        for i in range(0, len(text), step):
            raw += frame(OP_TEXT if i == 0 else OP_CONT, text[i:i + step],
                         fin=i + step >= len(text))
        c.send_raw(raw)
        self.assertEqual(c.recv_message(), (OP_TEXT, text))
        c.close()
        c.shutdown()

    def test_many_messages_in_one_write(self):
        c = self.ws()
        msgs = [("m%d" % i).encode() * (i % 7 + 1) for i in range(2000)]
        c.send_raw(b"".join(frame(OP_TEXT, m) for m in msgs))
        for m in msgs:
            self.assertEqual(c.recv_message(), (OP_TEXT, m))
        c.close()
        c.shutdown()

    def test_frames_in_the_same_write_as_the_handshake(self):
        msgs = [b"first", b"second", b"third"]
        c = self.ws(after=b"".join(frame(OP_TEXT, m) for m in msgs) + frame(OP_PING, b"p"))
        for m in msgs:
            self.assertEqual(c.recv_message(), (OP_TEXT, m))
        self.assertEqual(c.recv_message(controls=True), (OP_PONG, b"p"))
        c.close()
        c.shutdown()

    def test_byte_by_byte(self):
        c = self.ws()
        raw = frame(OP_TEXT, "slow \u20ac", fin=False) + frame(OP_CONT, " drip", fin=True)
        for i in range(len(raw)):
            c.send_raw(raw[i:i + 1])
            time.sleep(0.002)
        self.assertEqual(c.recv_message(), (OP_TEXT, "slow \u20ac drip".encode()))
        c.close()
        c.shutdown()

    def test_many_connections(self):
        conns = [self.ws() for _ in range(40)]
        for i, c in enumerate(conns):
            c.send_text("c%d" % i)
        for i, c in enumerate(conns):
            self.assertEqual(c.recv_message(), (OP_TEXT, b"c%d" % i))
        for c in conns:
            c.close()
            c.shutdown()
        self.assert_http_ok()


class Closing(WSBase):
    def test_close_handshake_echoes_code(self):
        for code, reason in ((1000, b"bye"), (1001, b""), (4001, "\u00e9".encode()),
                             (3000, b"x" * 123)):
            c = self.ws()
            c.send_frame(OP_CLOSE, close_payload(code, reason))
            got, _ = c.recv_close()
            self.assertEqual(got, code)
            self.assertTrue(c.wait_eof())
            c.shutdown()

    def test_close_without_code(self):
        c = self.ws()
        c.send_frame(OP_CLOSE, b"")
        fin, rsv, op, masked, payload = c.recv_frame()
        self.assertEqual((op, payload), (OP_CLOSE, b""))
        self.assertTrue(c.wait_eof())
        c.shutdown()

    def test_messages_before_close_are_answered(self):
        c = self.ws()
        c.send_raw(frame(OP_TEXT, "a") + frame(OP_TEXT, "b")
                   + frame(OP_CLOSE, close_payload(1000)) + frame(OP_TEXT, "after close"))
        self.assertEqual(c.recv_message(), (OP_TEXT, b"a"))
        self.assertEqual(c.recv_message(), (OP_TEXT, b"b"))
        self.expect_close(c, 1000)

    def test_bad_close_frames_are_1002(self):
        for payload in (b"\x03", close_payload(1005), close_payload(1006), close_payload(999),
                        close_payload(1016), close_payload(5000), close_payload(2000)):
            c = self.ws()
            c.send_frame(OP_CLOSE, payload)
            self.expect_close(c, 1002)

    def test_close_reason_not_utf8_is_1007(self):
        c = self.ws()
        c.send_frame(OP_CLOSE, close_payload(1000, b"\xff\xfe"))
        self.expect_close(c, 1007)

    def test_client_drops_tcp(self):
        for _ in range(10):
            c = self.ws()
            c.send_raw(frame(OP_TEXT, "x" * 1000, fin=False))  # leave a message open
            c.shutdown()
        c = self.ws()
        c.send_text("alive")
        self.assertEqual(c.recv_message(), (OP_TEXT, b"alive"))
        c.close()
        c.shutdown()


class Violations(WSBase):
    def check(self, raw, code, prefix=b""):
        c = self.ws()
        if prefix:
            c.send_raw(prefix)
        c.send_raw(raw)
        self.expect_close(c, code)

    def test_unmasked_frame_is_1002(self):
        self.check(frame(OP_TEXT, "no mask", mask=False), 1002)
        self.check(frame(OP_PING, b"", mask=False), 1002)

    def test_reserved_bits_are_1002(self):
        for rsv in (1, 2, 4, 7):
            self.check(frame(OP_TEXT, "rsv", rsv=rsv), 1002)
        self.check(frame(OP_PING, b"", rsv=4), 1002)

    def test_reserved_opcodes_are_1002(self):
        for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xF):
            self.check(frame(op, b"x"), 1002)

    def test_ping_126_is_1002(self):
        self.check(frame(OP_PING, b"p" * 126), 1002)
        self.check(frame(OP_CLOSE, close_payload(1000, b"r" * 124)), 1002)

    def test_fragmented_control_is_1002(self):
        self.check(frame(OP_PING, b"x", fin=False), 1002)

    def test_continuation_without_start_is_1002(self):
        self.check(frame(OP_CONT, b"x"), 1002)

    def test_new_message_inside_fragmented_is_1002(self):
        self.check(frame(OP_TEXT, "b", fin=True), 1002, prefix=frame(OP_TEXT, "a", fin=False))
        self.check(frame(OP_BINARY, b"b"), 1002, prefix=frame(OP_BINARY, b"a", fin=False))

    def test_64bit_length_with_top_bit_is_1002(self):
        head = struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 63) + b"\0\0\0\0"
        self.check(head, 1002)

    def test_invalid_utf8_is_1007(self):
        for bad in (b"\xff", b"abc\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                    b"\xe0\x80\xaf", b"\x80", b"ok\xf5\x80\x80\x80"):
            self.check(frame(OP_TEXT, bad), 1007)

    def test_text_ending_inside_character_is_1007(self):
        self.check(frame(OP_TEXT, b"caf\xc3"), 1007)
        self.check(frame(OP_CONT, b"\xe2\x82", fin=True), 1007,
                   prefix=frame(OP_TEXT, b"euro ", fin=False))

    def test_invalid_utf8_across_fragments_is_1007(self):
        # a valid lead byte in one fragment, a wrong continuation in the next
        self.check(frame(OP_CONT, b"\x41", fin=True), 1007,
                   prefix=frame(OP_TEXT, b"x\xe2\x82", fin=False))

    def test_binary_is_not_checked(self):
        c = self.ws()
        c.send_binary(b"\xff\xfe\xc0")
        self.assertEqual(c.recv_message(), (OP_BINARY, b"\xff\xfe\xc0"))
        c.close()
        c.shutdown()

    def test_http_still_served_after_violations(self):
        self.check(frame(OP_TEXT, "no mask", mask=False), 1002)
        self.check(frame(OP_TEXT, b"\xff"), 1007)
        self.assert_http_ok()
        c = self.ws()
        c.send_text("fine")
        self.assertEqual(c.recv_message(), (OP_TEXT, b"fine"))
        c.close()
        c.shutdown()


class SizeLimit(WSBase):
    conf = CONF + "WsMaxMessage 1k\n"

    def test_exact_limit_ok(self):
        c = self.ws()
        d = os.urandom(1024)
        c.send_binary(d)
        self.assertEqual(c.recv_message(), (OP_BINARY, d))
        c.send_raw(frame(OP_BINARY, d[:1000], fin=False) + frame(OP_CONT, d[1000:], fin=True))
        self.assertEqual(c.recv_message(), (OP_BINARY, d))
        c.close()
        c.shutdown()

    def test_oversize_is_1009(self):
        c = self.ws()
        c.send_binary(os.urandom(1025))
        self.expect_close(c, 1009)

    def test_oversize_fragmented_is_1009(self):
        c = self.ws()
        c.send_raw(frame(OP_TEXT, "a" * 600, fin=False) + frame(OP_CONT, "b" * 425, fin=True))
        self.expect_close(c, 1009)

    def test_oversize_declared_fails_before_payload(self):
        # the header alone (claims 1 GiB) is enough to refuse
        c = self.ws()
        c.send_raw(struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 30) + b"\1\2\3\4")
        self.expect_close(c, 1009)

    def test_control_frames_do_not_count(self):
        c = self.ws()
        c.send_raw(frame(OP_TEXT, "a" * 1000, fin=False) + frame(OP_PING, b"p" * 125)
                   + frame(OP_CONT, "b" * 24, fin=True))
        self.assertEqual(c.recv_message(controls=True), (OP_PONG, b"p" * 125))
        self.assertEqual(c.recv_message(), (OP_TEXT, b"a" * 1000 + b"b" * 24))
        c.close()
        c.shutdown()


class BackPressure(WSBase):
    def test_reader_that_does_not_read(self):
        """A client that sends fast and does not read: the server stops
        reading once its output backs up, so its memory stays bounded."""
        c = self.ws()
        msg = os.urandom(64 * 1024)
        total = 768  # 48 MiB of echoes
        rec = frame(OP_BINARY, msg)
        before = rss_kb(self.srv.pid)
        sent = [0]

        def writer():
            try:
                for _ in range(total):
                    c.sock.sendall(rec)
                    sent[0] += 1
            except OSError:
                pass
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(1.5)
        stalled_at = sent[0]
        grown = rss_kb(self.srv.pid) - before
        self.assertLess(stalled_at, total, "the server read everything without back-pressure")
        self.assertLess(grown, 32 * 1024, "server RSS grew by %d KiB" % grown)
        for i in range(total):
            op, d = c.recv_message()
            self.assertEqual(len(d), len(msg), i)
        t.join(10)
        self.assertEqual(sent[0], total)
        c.close()
        c.shutdown()


class TLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="rptest-pki-")
        os.chmod(cls.pki, 0o755)
        make_pki(cls.pki)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def test_wss(self):
        conf = (CONF + "SslCertFile %s\nSslKeyFile %s\n"
                % (os.path.join(self.pki, "fullchain.pem"), os.path.join(self.pki, "leaf.key")))
        with Server(conf=conf, files=FILES,
                    binds=["127.0.0.1:{port}", "127.0.0.1:{port2} tls"]) as srv:
            ctx = ssl.create_default_context(cafile=os.path.join(self.pki, "root.pem"))
            c = WSClient.connect("127.0.0.1", srv.port2, "/echo", ssl_context=ctx,
                                 server_hostname="localhost",
                                 after=frame(OP_TEXT, "early"))
            self.assertEqual(c.recv_message(), (OP_TEXT, b"early"))
            c.send_text("over tls \u20ac")
            self.assertEqual(c.recv_message(), (OP_TEXT, "over tls \u20ac".encode()))
            big = os.urandom(1024 * 1024)
            c.send_binary(big)
            self.assertEqual(c.recv_message(), (OP_BINARY, big))
            msgs = [b"t%d" % i for i in range(500)]
            c.send_raw(b"".join(frame(OP_BINARY, m) for m in msgs))
            for m in msgs:
                self.assertEqual(c.recv_message(), (OP_BINARY, m))
            c.ping(b"tls ping")
            self.assertEqual(c.recv_message(controls=True), (OP_PONG, b"tls ping"))
            c.send_raw(frame(OP_TEXT, "bad", mask=False))
            got, _ = c.recv_close()
            self.assertEqual(got, 1002)
            c.shutdown()
            c = WSClient.connect("127.0.0.1", srv.port2, "/echo", ssl_context=ctx,
                                 server_hostname="localhost")
            self.assertEqual(c.close(1000, "tls bye")[0], 1000)
            c.shutdown()
            # plain ws on the other listener still works
            c = WSClient.connect("127.0.0.1", srv.port, "/echo")
            c.send_text("plain")
            self.assertEqual(c.recv_message(), (OP_TEXT, b"plain"))
            c.close()
            c.shutdown()


class GracefulStop(unittest.TestCase):
    def test_stop_closes_with_1001(self):
        with Server(conf=CONF, files=FILES) as srv:
            conns = [WSClient.connect("127.0.0.1", srv.port, "/echo") for _ in range(4)]
            for c in conns:
                c.send_text("hi")
                self.assertEqual(c.recv_message(), (OP_TEXT, b"hi"))
            t0 = time.monotonic()
            srv.send_signal(signal.SIGTERM)
            for c in conns:
                code, reason = c.recv_close()
                self.assertEqual(code, 1001)
                self.assertEqual(reason, b"server stopping")
            for c in conns:
                c.send_frame(OP_CLOSE, close_payload(1001))
            for c in conns:
                self.assertTrue(c.wait_eof())
                c.shutdown()
            rc = srv.proc.wait(30)
            self.assertEqual(rc, 0)
            self.assertLess(time.monotonic() - t0, 8.0)  # not GracefulTimeout's 10 s

    def test_stop_with_silent_client(self):
        """A client that never answers the close frame is dropped after
        WsCloseTimeout, and the server still exits."""
        with Server(conf=CONF + "WsCloseTimeout 1\n", files=FILES) as srv:
            c = WSClient.connect("127.0.0.1", srv.port, "/echo")
            t0 = time.monotonic()
            srv.send_signal(signal.SIGTERM)
            self.assertEqual(c.recv_close()[0], 1001)
            self.assertTrue(c.wait_eof(8))
            rc = srv.proc.wait(30)
            self.assertEqual(rc, 0)
            self.assertLess(time.monotonic() - t0, 9.0)  # not GracefulTimeout's 10 s
            c.shutdown()

    def test_graceful_timeout_before_close_timeout(self):
        """GracefulTimeout ends the loop while websockets still wait for
        their peers: they are freed at worker exit (no leak under ASan)."""
        with Server(conf=CONF + "WsCloseTimeout 30\nGracefulTimeout 1\n", files=FILES) as srv:
            conns = [WSClient.connect("127.0.0.1", srv.port, "/echo") for _ in range(3)]
            conns[0].send_raw(frame(OP_TEXT, "half", fin=False))
            t0 = time.monotonic()
            srv.send_signal(signal.SIGTERM)
            for c in conns:
                self.assertEqual(c.recv_close()[0], 1001)
            rc = srv.proc.wait(30)
            self.assertEqual(rc, 0)
            self.assertLess(time.monotonic() - t0, 20.0)  # not WsCloseTimeout's 30 s
            for c in conns:
                self.assertTrue(c.wait_eof(2))
                c.shutdown()


class Config(unittest.TestCase):
    def test_bad_target_and_key(self):
        for conf, msg in (("Map ws:/x ws:nope\n", "unknown websocket target"),
                          ("Map /x ws:echo\n", "must start with ws:"),
                          ("WsMaxMessage 0\n", "WsMaxMessage")):
            with Server(conf="LoadModule ws mod_ws.so\n" + conf, expect_fail=True) as srv:
                self.assertNotEqual(srv.returncode, 0)
                self.assertIn(msg, srv.output())


if __name__ == "__main__":
    unittest.main()
