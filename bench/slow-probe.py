#!/usr/bin/env python3
"""slow-probe.py - the normal client of bench/slow.sh.

    slow-probe.py PORT PATH SECONDS

For SECONDS, sends a GET of PATH on a fresh connection every 100 ms (one at a
time, each with a 5 s limit for the whole exchange) to 127.0.0.1:PORT and
prints one line: "ok total p50_ms p99_ms" over every attempt (a failed
attempt counts as 5000 ms).  Bounded: at most SECONDS * 10 + 1 attempts.
"""
import socket
import sys
import time

LIMIT = 5.0


def once(port, path):
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as s:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
            data = b""
            while time.monotonic() - t0 < LIMIT:
                s.settimeout(max(0.01, LIMIT - (time.monotonic() - t0)))
                d = s.recv(65536)
                if not d:
                    break
                data += d
            ok = data.startswith(b"HTTP/1.1 200")
    except OSError:
        ok = False
    dt = time.monotonic() - t0
    return ok, dt * 1000 if ok else LIMIT * 1000


def main():
    port, path, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    end = time.monotonic() + seconds
    results = []
    while time.monotonic() < end and len(results) <= seconds * 10:
        t = time.monotonic()
        results.append(once(port, path))
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))
    lat = sorted(r[1] for r in results)
    ok = sum(1 for r in results if r[0])

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] if lat else 0.0
    print("%d %d %.1f %.1f" % (ok, len(results), pct(0.5), pct(0.99)))


if __name__ == "__main__":
    main()
