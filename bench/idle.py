#!/usr/bin/env python3
"""Hold N idle keep-alive connections to a server, each after one request.

usage: idle.py HOST PORT PATH N PIDFILE_OR_PIDS OUT
Prints the server's resident memory before and after, and per connection.
Memory is VmRSS summed over the given PIDs (nginx master + worker, or
tollgate). Connections are closed when the script exits.
"""
import resource
import socket
import sys
import time


def rss_kb(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def main():
    host, port, path, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    pids = [int(p) for p in sys.argv[5].split(",") if p]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
    req = f"GET {path} HTTP/1.1\r\nHost: idle\r\n\r\n".encode()
    # Warm the server up with a few connections first.
    warm = [socket.create_connection((host, port)) for _ in range(16)]
    for s in warm:
        s.sendall(req)
        s.recv(4096)
    time.sleep(0.5)
    before = rss_kb(pids)
    conns = []
    for _ in range(n):
        s = socket.create_connection((host, port))
        s.sendall(req)
        got = s.recv(4096)
        if not got.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"unexpected answer: {got[:60]!r}")
        conns.append(s)
    time.sleep(1.0)
    after = rss_kb(pids)
    per = (after - before) * 1024 / n
    print(f"{n} idle connections: rss {before} KiB -> {after} KiB, {per:.0f} bytes per connection")


main()
