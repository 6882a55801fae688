"""Core HTTP/1.1 behaviour of rampart-httpd with real sockets.

Uses the test-only plugin mod_testhooks (tests/modules) for routes whose
behaviour is known: echo, slow, stream, big bodies, hooks, worker index.
"""
import concurrent.futures
import hashlib
import http.client
import os
import re
import socket
import threading
import time
import unittest

from rptest import (Server, BUILD, LOAD_TESTHOOKS, free_port, gen_body, kv_lines, sha256,
                    read_response, parse_responses, recv_all, is_closed, wait_until)

ROUTES = """
Map /echo test:echo
Map /e/ test:echo
Map /slow test:slow:1200
Map /slow300 test:slow:300
Map /stream test:stream:5
Map /streamslow test:stream:4:300
Map /big test:big:3000000
Map /bigchunked test:bigchunked:1000000
Map /bigdrain test:bigdrain:3000000
Map /small test:big:1000
Map /s204 test:status:204
Map /s418 test:status:418
Map /err404 test:error:404
Map /err503 test:error:503
Map /hooks test:hooks
Map /worker test:worker
Map /svc test:svc
"""

LIMITS = """
MaxHeaderSize 4096
MaxHeaders 20
MaxUriLength 1024
MaxBodySize 65536
"""

CONF = LOAD_TESTHOOKS + "LogLevel info\n" + LIMITS + ROUTES


def start_shared(cls, conf=CONF, **kw):
    cls.srv = Server(conf=conf, **kw)


class Base(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        start_shared(cls)

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            code = cls.srv.stop()
            failed = code != 0 or bool(cls.srv.sanitizer_report())
            if failed:
                print("server exit code %r\n%s" % (code, cls.srv.output()))
            cls.srv.cleanup(keep=failed)
            cls.srv.check_sanitizers()
            if code != 0:
                raise AssertionError("shared server exited with %r after SIGTERM" % code)

    def setUp(self):
        self.assertTrue(self.srv.alive(), "server died earlier:\n" + self.srv.output())

    # helpers -------------------------------------------------------------
    def exchange(self, data, method="GET", timeout=5):
        """Send data on a fresh socket; return (first response, socket) with
        the socket still open so the caller can check what follows."""
        s = self.srv.sock(timeout)
        s.sendall(data)
        f = s.makefile("rb")
        resp = read_response(f, method)
        return resp, s, f

    def assert_still_serving(self):
        st, h, b = self.srv.request("GET", "/echo?alive=1")
        self.assertEqual(st, 200)
        self.assertEqual(kv_lines(b)["query"], "alive=1")

    def assert_error_and_closed(self, data, status, send_more=b""):
        """status: an int or a tuple of acceptable statuses."""
        s = self.srv.sock(5)
        try:
            try:
                s.sendall(data)
                if send_more:
                    s.sendall(send_more)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may close before reading everything we send
            f = s.makefile("rb")
            try:
                resp = read_response(f)
            except ConnectionResetError:
                self.fail("connection reset before a %r response" % (status,))
            self.assertIsNotNone(resp, "no response at all, expected %r" % (status,))
            ok = status if isinstance(status, tuple) else (status,)
            self.assertIn(resp[0], ok, "expected %r, got %r" % (status, resp[:2]))
            hd = dict(resp[2])
            if "connection" in hd:
                self.assertEqual(hd["connection"].lower(), "close")
            self.assertTrue(is_closed(s, 5), "connection left open after %r" % (status,))
        finally:
            s.close()
        self.assert_still_serving()


class TestBasics(Base):
    def test_echo_get(self):
        st, h, b = self.srv.request("GET", "/echo?a=1&b=%20x", headers={"X-Foo": "bar"})
        self.assertEqual(st, 200)
        kv = kv_lines(b)
        self.assertEqual(kv["method"], "GET")
        self.assertEqual(kv["path"], "/echo")
        self.assertEqual(kv["query"], "a=1&b=%20x")
        self.assertEqual(kv["http_minor"], "1")
        self.assertEqual(kv["body_len"], "0")
        self.assertIn(b"h:X-Foo: bar", b)
        self.assertIn("x-worker", h)
        self.assertIn(int(h["x-worker"]), (0, 1))
        self.assertIn("date", h)

    def test_post_body_hash(self):
        body = os.urandom(30000)
        st, h, b = self.srv.request("POST", "/echo", body=body)
        self.assertEqual(st, 200)
        kv = kv_lines(b)
        self.assertEqual(kv["method"], "POST")
        self.assertEqual(int(kv["body_len"]), len(body))
        self.assertEqual(kv["body_sha256"], sha256(body))

    def test_prefix_route_rest(self):
        st, h, b = self.srv.request("GET", "/e/some/thing.txt")
        self.assertEqual(st, 200)
        kv = kv_lines(b)
        self.assertEqual(kv["route_key"], "/e/")
        self.assertIn(kv["route_rest"], ("some/thing.txt", "/some/thing.txt"))

    def test_unmapped_is_404(self):
        st, h, b = self.srv.request("GET", "/no/such/route")
        self.assertEqual(st, 404)

    def test_status_codes(self):
        st, h, b = self.srv.request("GET", "/s418")
        self.assertEqual(st, 418)
        self.assertEqual(b, b"status 418\n")
        st, h, b = self.srv.request("GET", "/s204")
        self.assertEqual(st, 204)
        self.assertEqual(b, b"")
        self.assertNotIn("transfer-encoding", h)
        st, h, b = self.srv.request("GET", "/err503")
        self.assertEqual(st, 503)

    def test_keepalive_several_requests_one_connection(self):
        conn = self.srv.connection()
        try:
            ports = set()
            for i in range(5):
                st, h, b = Server.do(conn, "GET", "/echo?i=%d" % i)
                self.assertEqual(st, 200)
                kv = kv_lines(b)
                self.assertEqual(kv["query"], "i=%d" % i)
                self.assertEqual(int(kv["keepalive_count"]), i)
                ports.add(conn.sock.getsockname()[1])
                self.assertNotEqual(h.get("connection", "").lower(), "close")
            # a known-length body and a chunked body on the same connection
            st, h, b = Server.do(conn, "GET", "/small")
            self.assertEqual(b, gen_body(1000))
            st, h, b = Server.do(conn, "GET", "/stream")
            self.assertEqual(b, b"".join(b"chunk %d\n" % i for i in range(5)))
            st, h, b = Server.do(conn, "POST", "/echo", body=b"x" * 100)
            self.assertEqual(int(kv_lines(b)["keepalive_count"]), 7)
            ports.add(conn.sock.getsockname()[1])
            self.assertEqual(len(ports), 1, "client had to reconnect")
        finally:
            conn.close()

    def test_connection_close_honoured(self):
        resp, s, f = self.exchange(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            self.assertEqual(resp[0], 200)
            self.assertTrue(is_closed(s, 5))
        finally:
            s.close()

    def test_pipelining_in_order(self):
        reqs = (b"GET /slow300 HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                b"POST /echo?n=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                b"HEAD /small HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = self.srv.raw(reqs, timeout=5)
        rs = parse_responses(data, ["GET", "GET", "POST", "HEAD", "GET"])
        self.assertEqual([r[0] for r in rs], [200] * 5, data[:500])
        self.assertEqual(rs[0][2], b"slow 300\n")
        self.assertEqual(kv_lines(rs[1][2])["query"], "n=2")
        kv3 = kv_lines(rs[2][2])
        self.assertEqual(kv3["query"], "n=3")
        self.assertEqual(kv3["body_sha256"], sha256(b"hello"))
        self.assertEqual(rs[3][1].get("content-length"), "1000")
        self.assertEqual(rs[3][2], b"")
        self.assertEqual(rs[4][2], b"".join(b"chunk %d\n" % i for i in range(5)))

    def test_pipelining_split_across_packets(self):
        s = self.srv.sock(5)
        try:
            s.sendall(b"GET /slow300 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?n=2 HT")
            time.sleep(0.05)  # deliberately split the second request (not synchronisation)
            s.sendall(b"TP/1.1\r\nHost: x\r\n\r\nGET /echo?n=3 HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            rs = parse_responses(recv_all(s, 5))
        finally:
            s.close()
        self.assertEqual(len(rs), 3)
        self.assertEqual(rs[0][2], b"slow 300\n")
        self.assertEqual(kv_lines(rs[1][2])["query"], "n=2")
        self.assertEqual(kv_lines(rs[2][2])["query"], "n=3")

    def test_tokens_split_across_reads(self):
        # the URL, a header name and a header value each cut in the middle
        # (the parser sees a token in pieces, and the first piece's input is
        # drained before the rest arrives), then the same request whole and
        # pipelined: every token arrives intact
        head = (b"GET /echo?split=" + b"q" * 300 + b" HTTP/1.1\r\nHost: x\r\n"
                b"X-Split-Name-" + b"n" * 40 + b": " + b"v" * 2000 + b"\r\n"
                b"X-Request-Id: split-1\r\n\r\n")
        cuts = [20, 200, 330, 360, 400, 1200, len(head) - 10]
        s = self.srv.sock(5)
        try:
            last = 0
            for cut in cuts:
                s.sendall(head[last:cut])
                last = cut
                time.sleep(0.02)  # separate reads (not synchronisation)
            s.sendall(head[last:] + head.replace(b"Host: x", b"Host: y") +
                      b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            rs = parse_responses(recv_all(s, 5))
        finally:
            s.close()
        self.assertEqual(len(rs), 3)
        for i, host in ((0, "x"), (1, "y")):
            body = rs[i][2].decode()
            self.assertIn("query=split=" + "q" * 300 + "\n", body)
            self.assertIn("h:X-Split-Name-" + "n" * 40 + ": " + "v" * 2000 + "\n", body)
            self.assertIn("h:X-Request-Id: split-1\n", body)
            self.assertIn("h:Host: %s\n" % host, body)
        self.assertIn("query=(none)", rs[2][2].decode())

    def test_head(self):
        st, h, b = self.srv.request("HEAD", "/small")
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-length"), "1000")
        self.assertEqual(b, b"")
        # on the wire: nothing after the header block, and keep-alive still works
        s = self.srv.sock(5)
        try:
            s.sendall(b"HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = recv_all(s, 5)
        finally:
            s.close()
        rs = parse_responses(data, ["HEAD", "GET"])
        self.assertEqual(len(rs), 2, data[:300])
        self.assertEqual(rs[0][1].get("content-length"), "3000000")
        self.assertEqual(rs[0][2], b"")
        self.assertEqual(rs[1][2], gen_body(1000))
        # unknown length HEAD: no chunked body bytes either
        data = self.srv.raw(b"HEAD /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(data.endswith(b"\r\n\r\n"), data)
        self.assertEqual(data.count(b"\r\n\r\n"), 1)

    def test_expect_100_continue(self):
        body = b"0123456789" * 100
        s = self.srv.sock(5)
        try:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body))
            f = s.makefile("rb")
            interim = read_response(f)
            self.assertEqual(interim[0], 100)
            s.sendall(body)
            final = read_response(f)
            self.assertEqual(final[0], 200)
            kv = kv_lines(final[3])
            self.assertEqual(int(kv["body_len"]), len(body))
            self.assertEqual(kv["body_sha256"], sha256(body))
        finally:
            s.close()

    def test_expect_100_too_large_gets_413_without_100(self):
        s = self.srv.sock(5)
        try:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Length: 10000000\r\n\r\n")
            f = s.makefile("rb")
            first = read_response(f)
            self.assertIsNotNone(first)
            self.assertEqual(first[0], 413, "got %r before 413" % (first[:2],))
            self.assertTrue(is_closed(s, 5))
        finally:
            s.close()
        self.assert_still_serving()

    def test_chunked_request_body(self):
        parts = [b"hello ", b"chunked ", os.urandom(5000), b"world"]
        body = b"".join(parts)
        wire = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
        # with a chunk extension and a trailer
        wire = wire.replace(b"6\r\nhello ", b"6;name=value\r\nhello ", 1)
        wire += b"0\r\nX-Trailer: yes\r\n\r\n"
        resp, s, f = self.exchange(b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n" + wire)
        try:
            self.assertEqual(resp[0], 200)
            kv = kv_lines(resp[3])
            self.assertEqual(int(kv["body_len"]), len(body))
            self.assertEqual(kv["body_sha256"], sha256(body))
            # the connection is still usable afterwards
            s.sendall(b"GET /echo?after=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            resp2 = read_response(f)
            self.assertEqual(kv_lines(resp2[3])["query"], "after=1")
        finally:
            s.close()

    def test_chunked_request_body_http_client(self):
        body = [b"a" * 1000, b"b" * 2000, b"c"]
        conn = self.srv.connection()
        try:
            conn.request("POST", "/echo", body=iter(body), encode_chunked=True,
                         headers={"Transfer-Encoding": "chunked"})
            r = conn.getresponse()
            kv = kv_lines(r.read())
            self.assertEqual(r.status, 200)
            self.assertEqual(kv["body_sha256"], sha256(b"".join(body)))
        finally:
            conn.close()

    def test_http10(self):
        # no keep-alive by default; unknown length -> close-delimited, never chunked
        resp, s, f = self.exchange(b"GET /echo HTTP/1.0\r\n\r\n")
        try:
            self.assertEqual(resp[0], 200)
            hd = dict(resp[2])
            self.assertNotIn("chunked", hd.get("transfer-encoding", ""))
            self.assertTrue(resp[3].startswith(b"method=GET\n"), resp[3][:100])
            self.assertEqual(kv_lines(resp[3])["http_minor"], "0")
            self.assertTrue(is_closed(s, 5), "HTTP/1.0 connection kept open")
        finally:
            s.close()
        # known length, still closed without keep-alive
        data = self.srv.raw(b"GET /small HTTP/1.0\r\n\r\n", timeout=5)
        rs = parse_responses(data)
        self.assertEqual(rs[0][2], gen_body(1000))
        # keep-alive when asked
        resp, s, f = self.exchange(b"GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        try:
            self.assertEqual(resp[0], 200)
            self.assertEqual(resp[3], gen_body(1000))
            self.assertEqual(dict(resp[2]).get("connection", "").lower(), "keep-alive")
            s.sendall(b"GET /echo?second=1 HTTP/1.0\r\n\r\n")
            resp2 = read_response(f)
            self.assertEqual(resp2[0], 200)
            self.assertEqual(kv_lines(resp2[3])["query"], "second=1")
            self.assertTrue(is_closed(s, 5))
        finally:
            s.close()
        # http.client in 1.0 mode
        st, h, b = self.srv.request("GET", "/stream", http10=True)
        self.assertEqual(b, b"".join(b"chunk %d\n" % i for i in range(5)))

    def test_big_bodies_byte_exact(self):
        for path, n in (("/big", 3000000), ("/bigchunked", 1000000), ("/bigdrain", 3000000)):
            with self.subTest(path=path):
                st, h, b = self.srv.request("GET", path, timeout=30)
                self.assertEqual(st, 200)
                self.assertEqual(len(b), n)
                self.assertEqual(sha256(b), sha256(gen_body(n)))
                if path == "/bigchunked":
                    self.assertEqual(h.get("transfer-encoding"), "chunked")
                else:
                    self.assertEqual(h.get("content-length"), str(n))


class TestBadInput(Base):
    def test_header_bytes_431(self):
        req = b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n"
        self.assert_error_and_closed(req, 431)

    def test_header_count_431(self):
        hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(30))
        self.assert_error_and_closed(b"GET /echo HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n", 431)

    def test_header_count_at_limit_ok(self):
        # Host + 18 + Connection = 20 = MaxHeaders
        hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(18))
        data = self.srv.raw(b"GET /echo HTTP/1.1\r\nHost: x\r\n" + hdrs
                            + b"Connection: close\r\n\r\n", timeout=5)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])
        self.assertIn(b"headers=20\n", data)

    def test_uri_414(self):
        self.assert_error_and_closed(b"GET /echo?" + b"q" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                                     414)

    def test_body_413(self):
        self.assert_error_and_closed(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
                                     413, b"z" * 100000)

    def test_chunked_body_413(self):
        chunk = b"8000\r\n" + b"y" * 0x8000 + b"\r\n"
        self.assert_error_and_closed(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                                     413, chunk * 4 + b"0\r\n\r\n")

    def test_body_at_limit_ok(self):
        body = b"k" * 65536
        st, h, b = self.srv.request("POST", "/echo", body=body)
        self.assertEqual(st, 200)
        self.assertEqual(kv_lines(b)["body_sha256"], sha256(body))

    def test_malformed_request_lines_400(self):
        for bad in (b"GARBAGE\r\n\r\n",
                    b"GET\r\n\r\n",
                    b"GET /echo HTTP/1.1 extra\r\nHost: x\r\n\r\n",
                    b"GET /echo HTTX/1.1\r\nHost: x\r\n\r\n",
                    b"G\x01T /echo HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /echo HTTP/1.1\r\nBad Header Name: v\r\n\r\n",
                    b"GET /echo HTTP/1.1\r\nNoColon\r\n\r\n"):
            with self.subTest(req=bad):
                self.assert_error_and_closed(bad, 400)

    def test_content_length_and_transfer_encoding_400(self):
        self.assert_error_and_closed(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400)

    def test_duplicate_differing_content_length_400(self):
        self.assert_error_and_closed(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            400)
        self.assert_error_and_closed(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!", 400)

    def test_bad_content_length_400(self):
        for cl in (b"-1", b"abc", b"1x", b"99999999999999999999999"):
            with self.subTest(cl=cl):
                # an overflowing length may fairly be called too large
                ok = (400, 413) if len(cl) > 10 else 400
                self.assert_error_and_closed(
                    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl + b"\r\n\r\nhello", ok)

    def test_bad_chunk_size_400(self):
        for bad in (b"zz\r\nhello\r\n0\r\n\r\n", b"-5\r\nhello\r\n0\r\n\r\n",
                    b"5\r\nhelloXX0\r\n\r\n"):
            with self.subTest(body=bad):
                self.assert_error_and_closed(
                    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + bad, 400)

    def test_unknown_transfer_encoding(self):
        # a transfer coding we cannot decode must not be treated as a body length
        s = self.srv.sock(5)
        try:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc")
            resp = read_response(s.makefile("rb"))
            self.assertIn(resp[0], (400, 501))
        finally:
            s.close()
        self.assert_still_serving()

    def test_client_goes_away_mid_response(self):
        # during an async (timer) handler
        s = self.srv.sock(5)
        s.sendall(b"GET /slow300?abort=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.srv.wait_log(r"testhooks handler slow:300 /slow300\?abort=1")
        s.close()
        # during a big streamed body, drained and not
        for path in (b"/bigdrain?abort=2", b"/big?abort=3", b"/bigchunked?abort=4"):
            s = self.srv.sock(5)
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while len(got) < 20000:
                d = s.recv(65536)
                self.assertTrue(d)
                got += d
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()  # RST
        # the aborted requests still reach the LOG phase, and the server lives on
        for q in ("abort=1", "abort=2", "abort=3", "abort=4"):
            self.srv.wait_log(r"testhooks log GET /\w+\?%s " % q)
        self.assert_still_serving()
        st, h, b = self.srv.request("GET", "/big")
        self.assertEqual(sha256(b), sha256(gen_body(3000000)))

    def test_http11_without_host_400(self):
        self.assert_error_and_closed(b"GET /echo HTTP/1.1\r\n\r\n", 400)


class TestHooksAndFilters(Base):
    def test_phases_run_in_order(self):
        st, h, b = self.srv.request("GET", "/hooks")
        self.assertEqual(st, 200)
        self.assertIn(b"phases=map,auth,handler\n", b)

    def test_map_hook_remaps(self):
        st, h, b = self.srv.request("GET", "/not/mapped", headers={"X-Remap": "echo"})
        self.assertEqual(st, 200)
        self.assertEqual(kv_lines(b)["path"], "/not/mapped")

    def test_auth_status_stops_request(self):
        st, h, b = self.srv.request("GET", "/echo", headers={"X-Deny": "401"})
        self.assertEqual(st, 401)
        self.assertNotIn(b"method=GET", b)
        self.assertNotIn("x-worker", h)  # the handler never ran

    def test_error_hook_body(self):
        st, h, b = self.srv.request("GET", "/err404", headers={"X-Custom-Error": "1"})
        self.assertEqual(st, 404)
        self.assertEqual(b, b"custom error 404\n")
        st, h, b = self.srv.request("GET", "/err404")
        self.assertEqual(st, 404)
        self.assertNotIn(b"custom error", b)

    def test_log_hook_runs_after_response(self):
        self.srv.request("GET", "/echo?loghook=1")
        self.srv.wait_log(r"\[testhooks\] testhooks log GET /echo\?loghook=1 200")

    def test_upper_filter_joins_only_when_asked(self):
        st, h, b = self.srv.request("GET", "/stream")
        self.assertEqual(b, b"".join(b"chunk %d\n" % i for i in range(5)))
        self.assertNotIn("x-upper-filter", h)
        st, h, b = self.srv.request("GET", "/stream", headers={"X-Upper": "1"})
        self.assertEqual(h.get("x-upper-filter"), "joined")
        self.assertEqual(b, b"".join(b"CHUNK %d\n" % i for i in range(5)))

    def test_upper_filter_streams_chunk_by_chunk(self):
        # /streamslow sends 4 chunks 300 ms apart.  Through the filter the first
        # chunk must reach the client long before the end of the body exists.
        s = self.srv.sock(10)
        try:
            t0 = time.monotonic()
            s.sendall(b"GET /streamslow HTTP/1.1\r\nHost: x\r\nX-Upper: 1\r\nConnection: close\r\n\r\n")
            got = b""
            while b"CHUNK 0\n" not in got:
                d = s.recv(65536)
                self.assertTrue(d, "closed before the first chunk")
                got += d
                # only a hang fails this: the whole body takes 1.2 s
                self.assertLess(time.monotonic() - t0, 30)
            first_at = time.monotonic() - t0
            self.assertNotIn(b"CHUNK 3", got)
            self.assertNotIn(b"\r\n0\r\n\r\n", got)
            got += recv_all(s, 5)
            total = time.monotonic() - t0
        finally:
            s.close()
        rs = parse_responses(got)
        self.assertEqual(rs[0][2], b"CHUNK 0\nCHUNK 1\nCHUNK 2\nCHUNK 3\n")
        self.assertGreater(total - first_at, 0.6)

    def test_upper_filter_big_body(self):
        st, h, b = self.srv.request("GET", "/big", headers={"X-Upper": "1"}, timeout=30)
        self.assertEqual(st, 200)
        self.assertEqual(sha256(b), sha256(gen_body(3000000).upper()))

    def test_post_config_once_and_worker_init(self):
        # post_config may log before ErrorLog is opened (then to stderr); the
        # worker threads log their worker_init when they run, maybe after
        # the listener already accepts: wait for both lines.
        def log():
            return self.srv.stderr() + self.srv.error_log()
        wait_until(lambda: len(re.findall(r"testhooks worker_init \d+", log())) >= 2,
                   what="worker_init of both threads")
        self.assertEqual(len(re.findall(r"testhooks post_config \d+", log())), 1, log())
        self.assertIn("testhooks post_config 1", log())
        inits = sorted(int(x) for x in re.findall(r"testhooks worker_init (\d+)", log()))
        self.assertEqual(inits, [0, 1])


class TestLogs(Base):
    CLF = re.compile(r'^(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) '
                     r'\[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
                     r'"(?P<req>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
                     r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)"$')
    ERRLINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} "
                         r"\[(error|err|warn|notice|info|debug)\] \[[^\]]+\] \S.*$")

    def find_access(self, needle):
        def look():
            for line in self.srv.access_log().splitlines():
                if needle in line:
                    return line
            return None
        return wait_until(look, 10, what="%r in the access log" % needle)

    def test_access_log_combined_format(self):
        self.srv.request("GET", "/small?clf=1", headers={"Referer": "http://ref.example/x",
                                                         "User-Agent": "rptest/1.0 (ua)"})
        line = self.find_access("/small?clf=1")
        m = self.CLF.match(line)
        self.assertIsNotNone(m, "not Combined Log Format: %r" % line)
        self.assertEqual(m["host"], "127.0.0.1")
        self.assertEqual(m["ident"], "-")
        self.assertEqual(m["user"], "-")
        self.assertEqual(m["req"], "GET /small?clf=1 HTTP/1.1")
        self.assertEqual(m["status"], "200")
        self.assertEqual(m["bytes"], "1000")
        self.assertEqual(m["referer"], "http://ref.example/x")
        self.assertEqual(m["ua"], "rptest/1.0 (ua)")
        t = time.strptime(m["time"].split()[0], "%d/%b/%Y:%H:%M:%S")
        self.assertLess(abs(time.mktime(t) - time.time()), 24 * 3600 + 120)

    def test_access_log_errors_and_missing_headers(self):
        self.srv.raw(b"GET /no/such?clf=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        line = self.find_access("/no/such?clf=2")
        m = self.CLF.match(line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m["status"], "404")
        self.assertEqual(m["referer"], "-")
        self.assertEqual(m["ua"], "-")

    def test_access_log_escapes_quotes(self):
        self.srv.request("GET", "/echo?clf=3", headers={"User-Agent": 'evil "agent" \\ x'})
        line = self.find_access("/echo?clf=3")
        m = self.CLF.match(line)
        self.assertIsNotNone(m, "quote in User-Agent broke the format: %r" % line)
        self.assertNotIn('evil "agent"', line)

    def test_access_log_head_and_chunked_bytes(self):
        self.srv.request("HEAD", "/small?clf=4")
        self.srv.request("GET", "/stream?clf=5")
        m = self.CLF.match(self.find_access("/small?clf=4"))
        self.assertIn(m["bytes"], ("0", "-"))
        m = self.CLF.match(self.find_access("/stream?clf=5"))
        self.assertEqual(m["bytes"], str(len(b"".join(b"chunk %d\n" % i for i in range(5)))))

    def test_error_log_format(self):
        self.srv.request("GET", "/echo?errfmt=1")
        self.srv.wait_log(r"testhooks log GET /echo\?errfmt=1")
        lines = [l for l in self.srv.error_log().splitlines() if l.strip()]
        self.assertTrue(lines)
        for l in lines:
            self.assertRegex(l, self.ERRLINE)
        self.assertTrue(any(re.search(r"\[notice\] \[testhooks\] testhooks log GET /echo\?errfmt=1 200$", l)
                            for l in lines))


class TestTimeouts(unittest.TestCase):
    def test_connect_timeout_idle_before_and_between(self):
        with Server(conf=CONF + "ConnectTimeout 1\n") as srv:
            # idle before the first request
            s = srv.sock(10)
            t0 = time.monotonic()
            try:
                self.assertTrue(is_closed(s, 6), "idle connection not closed")
                dt = time.monotonic() - t0
                self.assertGreater(dt, 0.7)
            finally:
                s.close()
            # idle between requests
            s = srv.sock(10)
            try:
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
                f = s.makefile("rb")
                self.assertEqual(read_response(f)[0], 200)
                t0 = time.monotonic()
                self.assertTrue(is_closed(s, 6), "idle keep-alive connection not closed")
                self.assertGreater(time.monotonic() - t0, 0.7)
            finally:
                s.close()
            # a half-sent request is also cut off
            s = srv.sock(10)
            try:
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
                self.assertTrue(is_closed(s, 6), "half request not timed out")
            finally:
                s.close()
            # a slow-but-active client within the timeout is fine
            st, h, b = srv.request("GET", "/slow300")
            self.assertEqual(b, b"slow 300\n")

    def test_keepalive_timeout(self):
        with Server(conf=CONF + "ConnectTimeout 30\nKeepAliveTimeout 1\n") as srv:
            s = srv.sock(10)
            try:
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(read_response(s.makefile("rb"))[0], 200)
                self.assertTrue(is_closed(s, 6), "KeepAliveTimeout not applied")
            finally:
                s.close()


class TestSmallIO(unittest.TestCase):
    def test_small_maxread_maxwrite(self):
        conf = CONF.replace("MaxBodySize 65536", "MaxBodySize 1m") + "MaxRead 512\nMaxWrite 1000\n"
        files = {}
        have_static = os.path.exists(os.path.join(BUILD, "modules", "mod_static.so"))
        blob = os.urandom(700000)
        if have_static:
            conf += "LoadModule static mod_static.so\nMap /files/ {www}\n"
            files["www/blob.bin"] = blob
        with Server(conf=conf, files=files) as srv:
            for path, n in (("/big", 3000000), ("/bigdrain", 3000000), ("/bigchunked", 1000000)):
                with self.subTest(path=path):
                    st, h, b = srv.request("GET", path, timeout=60)
                    self.assertEqual(len(b), n)
                    self.assertEqual(sha256(b), sha256(gen_body(n)))
            body = os.urandom(300000)
            st, h, b = srv.request("POST", "/echo", body=body, timeout=60)
            self.assertEqual(kv_lines(b)["body_sha256"], sha256(body))
            if have_static:
                st, h, b = srv.request("GET", "/files/blob.bin", timeout=60)
                self.assertEqual(st, 200)
                self.assertEqual(sha256(b), sha256(blob))
            # a pipelined burst larger than MaxRead is still parsed completely
            reqs = b"".join(b"GET /echo?p=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(20))
            rs = parse_responses(srv.raw(reqs + b"GET /small HTTP/1.1\r\nHost: x\r\n"
                                         b"Connection: close\r\n\r\n", timeout=5))
            self.assertEqual(len(rs), 21)
            self.assertEqual([kv_lines(r[2])["query"] for r in rs[:20]],
                             ["p=%d" % i for i in range(20)])


def ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class TestBindAndThreads(unittest.TestCase):
    def test_several_binds(self):
        binds = ["127.0.0.1:{port}", " 127.0.0.1 : {port2} "]
        if ipv6_loopback():
            binds.append("[::1]:{port}")
        with Server(conf=CONF, binds=binds) as srv:
            st, h, b = srv.request("GET", "/echo", host="127.0.0.1", port=srv.port)
            self.assertEqual(kv_lines(b)["local_port"], str(srv.port))
            st, h, b = srv.request("GET", "/echo", host="127.0.0.1", port=srv.port2)
            self.assertEqual(st, 200)
            self.assertEqual(kv_lines(b)["local_port"], str(srv.port2))
            if ipv6_loopback():
                st, h, b = srv.request("GET", "/echo", host="::1", port=srv.port)
                self.assertEqual(st, 200)
                self.assertEqual(kv_lines(b)["remote"], "::1")

    def test_ipv6_with_spaces(self):
        if not ipv6_loopback():
            self.skipTest("no IPv6 loopback")
        with Server(conf=CONF, binds=[" [ ::1 ] : {port} "]) as srv:
            self.assertEqual(srv.host, "::1")
            st, h, b = srv.request("GET", "/echo")
            self.assertEqual(st, 200)
            # and not on IPv4
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                with self.assertRaises(OSError):
                    s.connect(("127.0.0.1", srv.port))
            finally:
                s.close()

    def test_connections_spread_over_threads(self):
        n_threads = 4
        with Server(conf=CONF, threads=n_threads) as srv:
            inits = srv.wait_log(r"(?s)(testhooks worker_init \d+.*){%d}" % n_threads)
            self.assertTrue(inits)
            socks = []
            try:
                # hold 4 * threads connections open at once, each with one request
                for _ in range(4 * n_threads):
                    s = srv.sock(10)
                    s.sendall(b"GET /worker HTTP/1.1\r\nHost: x\r\n\r\n")
                    socks.append(s)
                workers = []
                for s in socks:
                    resp = read_response(s.makefile("rb"))
                    self.assertEqual(resp[0], 200)
                    w = int(dict(resp[2])["x-worker"])
                    self.assertEqual(resp[3], b"worker %d\n" % w)
                    workers.append(w)
            finally:
                for s in socks:
                    s.close()
            self.assertTrue(all(0 <= w < n_threads for w in workers), workers)
            counts = {w: workers.count(w) for w in set(workers)}
            self.assertEqual(set(workers), set(range(n_threads)),
                             "connections not spread: %r" % counts)
            # least busy: with all connections open at once, no worker gets more
            # than twice its share
            self.assertLessEqual(max(counts.values()), 8, counts)

    def test_threads_zero_means_one_per_cpu(self):
        n = os.cpu_count()
        with Server(conf=CONF, threads=0) as srv:
            srv.wait_log(r"(?s)(testhooks worker_init \d+.*){%d}" % n)
            st, h, b = srv.request("GET", "/worker")
            self.assertEqual(st, 200)
            srv.stop()
            inits = sorted(int(x) for x in re.findall(r"testhooks worker_init (\d+)", srv.error_log()))
            self.assertEqual(inits, list(range(n)))

    def test_concurrent_clients(self):
        with Server(conf=CONF, threads=3) as srv:
            def one(i):
                body = os.urandom(1000 + i)
                st, h, b = srv.request("POST", "/echo?c=%d" % i, body=body)
                kv = kv_lines(b)
                return st, kv["query"], kv["body_sha256"] == sha256(body)
            with concurrent.futures.ThreadPoolExecutor(16) as ex:
                res = list(ex.map(one, range(64)))
            self.assertEqual(res, [(200, "c=%d" % i, True) for i in range(64)])

    def test_slow_request_does_not_block_other_connections(self):
        with Server(conf=CONF, threads=1) as srv:
            out = {}
            t = threading.Thread(target=lambda: out.setdefault("slow", srv.request("GET", "/slow")))
            t0 = time.monotonic()
            t.start()
            srv.wait_log(r"testhooks handler slow:1200 /slow")
            st, h, b = srv.request("GET", "/echo")
            self.assertEqual(st, 200)
            # answered while the slow one still waits on its timer
            self.assertNotIn("slow", out, "a timer-based handler blocked the worker")
            t.join(10)
            self.assertEqual(out["slow"][2], b"slow 1200\n")


class TestRoutes(unittest.TestCase):
    ROUTES = LOAD_TESTHOOKS + r"""
Map /r/exact test:echo
Map /r/ test:echo
Map /r/sub/ test:echo
Map /g/*.txt test:echo
Map ~^/g/.*\.txt$ test:echo
Map ~^/q/ test:echo
Map ~^/q/long test:echo
Map /gl/*.html test:echo
Map /p/ test:echo
Map /p/deep/ test:echo
Map ws:/w test:echo
"""

    def key(self, srv, path):
        st, h, b = srv.request("GET", path)
        if st == 404:
            return None
        self.assertEqual(st, 200, b)
        return kv_lines(b)["route_key"]

    def test_route_order_sorted(self):
        with Server(conf=self.ROUTES) as srv:
            self.assertEqual(self.key(srv, "/r/exact"), "/r/exact")
            self.assertEqual(self.key(srv, "/r/exact/more"), "/r/")
            self.assertEqual(self.key(srv, "/r/sub/a/b"), "/r/sub/")
            self.assertEqual(self.key(srv, "/r/other"), "/r/")
            self.assertEqual(self.key(srv, "/r/a.txt"), "/r/")  # prefix before regex/glob
            self.assertEqual(self.key(srv, "/g/a.txt"), r"~^/g/.*\.txt$")  # regex before glob
            self.assertEqual(self.key(srv, "/q/longer"), "~^/q/long")  # longest regex first
            self.assertEqual(self.key(srv, "/q/short"), "~^/q/")
            self.assertEqual(self.key(srv, "/gl/x.html"), "/gl/*.html")
            self.assertIsNone(self.key(srv, "/gl/x.txt"))
            self.assertEqual(self.key(srv, "/p/deep/x"), "/p/deep/")
            self.assertIsNone(self.key(srv, "/w"))  # ws: routes only for upgrades
            # decoded once, dot segments removed before matching
            self.assertEqual(self.key(srv, "/r/%65xact"), "/r/exact")
            self.assertEqual(self.key(srv, "/r/sub/../exact"), "/r/exact")
            st, h, b = srv.request("GET", "/r/a/./b/../c?x=%2F")
            kv = kv_lines(b)
            self.assertEqual(kv["path"], "/r/a/c")
            self.assertEqual(kv["query"], "x=%2F")

    def test_mapsort_off_keeps_conf_order(self):
        with Server(conf=self.ROUTES + "MapSort off\n") as srv:
            self.assertEqual(self.key(srv, "/p/deep/x"), "/p/")
            self.assertEqual(self.key(srv, "/q/longer"), "~^/q/")
            self.assertEqual(self.key(srv, "/r/exact"), "/r/exact")


class TestLogTargets(unittest.TestCase):
    def test_logs_to_stdout_and_stderr_by_default(self):
        with Server(conf=CONF + "Log on\n", logs=False) as srv:
            srv.request("GET", "/echo?stdlog=1", headers={"User-Agent": "ua-std"})
            wait_until(lambda: "/echo?stdlog=1" in srv.stdout(), 10, what="access line on stdout")
            wait_until(lambda: "testhooks log GET /echo?stdlog=1" in srv.stderr(), 10,
                       what="error line on stderr")
            line = [l for l in srv.stdout().splitlines() if "stdlog=1" in l][0]
            self.assertRegex(line, TestLogs.CLF)
            self.assertFalse(any(TestLogs.CLF.match(l) for l in srv.stderr().splitlines()),
                             "access lines on stderr")
            self.assertFalse(any(TestLogs.ERRLINE.match(l) for l in srv.stdout().splitlines()),
                             "error lines on stdout")

    def test_log_off(self):
        # "Log off" wins over an AccessLog location: no request is logged
        srv = Server(conf=CONF + "Log off\n")
        try:
            st, h, b = srv.request("GET", "/echo?logoff=1")
            self.assertEqual(st, 200)
            srv.wait_log(r"testhooks log GET /echo\?logoff=1")
            self.assertEqual(srv.stop(), 0)
            self.assertNotIn("logoff=1", srv.access_log())
            self.assertNotIn("logoff=1", srv.stdout())
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
