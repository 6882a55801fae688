#!/usr/bin/env python3
"""bench/idle-conns.py - server memory held by idle keep-alive connections.

usage: idle-conns.py PORT PATH N PID...

Opens N connections to 127.0.0.1:PORT; each sends one keep-alive GET of PATH,
reads the whole answer (a 200 with a Content-Length) and stays open, idle.
The server's RSS (VmRSS of PID..., summed: for nginx the master and its
workers) is read before, after a small warm-up of a few connections made and
closed, and again once all N are idle and the figure has stopped moving.
Then every connection is checked to be still open, all are closed, and one
line is printed:

    rss_before_kib rss_after_kib bytes_per_connection closed_by_server

Bounded: 120 s in all (SIGALRM), 10 s per socket operation.  Loopback only.
"""
import resource
import signal
import socket
import sys
import time


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def settled_rss(pids):
    """RSS once two readings 0.2 s apart agree (3 s at most)."""
    last = rss_kib(pids)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = rss_kib(pids)
        if now == last:
            break
        last = now
    return last


def one_request(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before the answer's head")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if lines[0].split()[1] != "200":
        raise RuntimeError("answer: " + lines[0])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise RuntimeError("answer has no Content-Length")
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed inside the body")
        body += chunk
    return s


def still_open(s):
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def main():
    port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    pids = [int(p) for p in sys.argv[4:]]
    signal.alarm(120)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            sys.exit("idle-conns: need %d descriptors, the limit is %d" % (want, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    # Warm-up: let every worker make whatever it makes on first use.
    for _ in range(16):
        one_request(port, path).close()
    before = settled_rss(pids)
    conns = [one_request(port, path) for _ in range(n)]
    after = settled_rss(pids)
    closed = sum(1 for s in conns if not still_open(s))
    for s in conns:
        s.close()
    print(before, after, (after - before) * 1024 // n, closed)


if __name__ == "__main__":
    main()
