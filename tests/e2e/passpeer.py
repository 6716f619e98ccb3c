#!/usr/bin/python3
"""passpeer.py: the app side of the passthrough tests. It opens a TLS-looking connection (a
real ClientHello for a name that is not a provider's) to HOST:PORT, which the proxy splices
through, and then speaks one of the scenarios below with the test's server. Prints one JSON
line with what it saw.

usage: passpeer.py MODE HOST PORT [ARG]
  bulk N          send N bytes and receive until EOF, both at once; shut down writing after
  ask TEXT        send TEXT with the ClientHello, shut down writing, read the answer to EOF
  late TEXT       read to EOF first (the server half-closes), then send TEXT and shut down
  reset N         read N bytes, then reset the connection (SO_LINGER 0)
  drain           read to EOF or an error, and say which
  slow            wait for a line on stdin before reading anything, then read to EOF
  urgent          send "abc", an urgent byte "!" (MSG_OOB), "def", shut down writing
"""
import hashlib
import json
import socket
import struct
import sys
import threading

SNI = "passthrough.example.test"  # no provider's host, no AI service's
CHUNK = 1 << 16


def client_hello(sni=SNI):
    """A one-record TLS 1.2-style ClientHello with only a server_name extension."""
    name = sni.encode()
    entry = b"\x00" + struct.pack("!H", len(name)) + name
    sni_ext = struct.pack("!HH", 0, len(entry) + 2) + struct.pack("!H", len(entry)) + entry
    body = (b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00" +
            struct.pack("!H", len(sni_ext)) + sni_ext)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def payload(n, seed):
    """N deterministic bytes (one block repeated with a counter), as CHUNK-sized pieces."""
    block = hashlib.sha256(seed.encode()).digest() * (CHUNK // 32)
    for i in range(0, n, CHUNK):
        yield (i.to_bytes(8, "big") + block[8:])[:min(CHUNK, n - i)]


def recv_all(s, h=None):
    """Reads to EOF: (bytes read, "eof" or the errno's name)."""
    n = 0
    while True:
        try:
            b = s.recv(CHUNK)
        except OSError as e:
            return n, "error", e.errno
        if not b:
            return n, "eof", 0
        n += len(b)
        if h:
            h.update(b)


def exchange(s, n, seed):
    """Sends N bytes of payload(SEED) and shuts down writing while it reads to EOF: both
    ends' SHA-256, how much came and how it ended."""
    sent, got = hashlib.sha256(), hashlib.sha256()

    def send():
        for b in payload(n, seed):
            sent.update(b)
            s.sendall(b)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    count, how, err = recv_all(s, got)
    t.join()
    return dict(sent_sha=sent.hexdigest(), got_sha=got.hexdigest(), got=count, end=how,
                errno=err)


def read_to_eof(s):
    """Everything until the peer shuts down writing."""
    data = b""
    while True:
        b = s.recv(CHUNK)
        if not b:
            return data
        data += b


def out(**kw):
    print(json.dumps(kw), flush=True)


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    arg = sys.argv[4] if len(sys.argv) > 4 else ""
    s = socket.create_connection((host, port), timeout=60)
    hello = client_hello()
    if mode == "bulk":
        s.sendall(hello)
        out(**exchange(s, int(arg), "up"))
    elif mode == "ask":
        s.sendall(hello + arg.encode())
        s.shutdown(socket.SHUT_WR)
        out(answer=read_to_eof(s).decode())
    elif mode == "late":
        s.sendall(hello)
        data = read_to_eof(s)
        s.sendall(arg.encode())
        s.shutdown(socket.SHUT_WR)
        out(answer=data.decode(), rest=s.recv(CHUNK).decode())
    elif mode == "reset":
        s.sendall(hello)
        n = 0
        while n < int(arg):
            n += len(s.recv(CHUNK))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        out(got=n, reset=True)
    elif mode == "drain":
        s.sendall(hello)
        n, how, err = recv_all(s)
        out(got=n, end=how, errno=err)
    elif mode == "slow":
        s.sendall(hello)
        sys.stdin.readline()
        got = hashlib.sha256()
        n, how, err = recv_all(s, got)
        out(got=n, got_sha=got.hexdigest(), end=how, errno=err)
    elif mode == "urgent":
        s.sendall(hello + b"abc")
        s.send(b"!", socket.MSG_OOB)
        s.sendall(b"def")
        s.shutdown(socket.SHUT_WR)
        n, how, err = recv_all(s)
        out(got=n, end=how, errno=err)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
