#!/usr/bin/python3
"""netclient.py: the "legacy app" of the capture tests: one connection attempt the way a
determined application would make it, result printed as one JSON line.

usage: netclient.py MODE HOST PORT [--hold SECONDS] [--mark N] [--sport N]
MODE: tcp | nonblock | bindfirst | tfo | v4mapped | udp-connect | udp-sendto
"""
import errno
import json
import os
import select
import socket
import sys
import time

MSG_FASTOPEN = 0x20000000


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def result(**kw):
    kw.setdefault("pid", os.getpid())
    print(json.dumps(kw), flush=True)


def finish_tcp(s, hold, greeted):
    if not greeted:
        s.sendall(b"ping\n")  # the client speaks first, as TLS clients do
    local = s.getsockname()
    peer = s.getpeername()
    s.settimeout(5)
    data = b""
    try:
        data = s.recv(4096)
    except OSError as e:
        result(ok=False, stage="recv", errno=e.errno, local=list(local[:2]), peer=list(peer[:2]))
        return
    result(ok=True, local=list(local[:2]), peer=list(peer[:2]), data=data.decode(errors="replace"))
    if hold:
        # Stay connected; report how the connection ends (a destroyed one fails here).
        s.settimeout(hold)
        try:
            more = s.recv(4096)
            result(event="closed", data=more.decode(errors="replace"))
        except socket.timeout:
            result(event="held")
        except OSError as e:
            result(event="error", errno=e.errno)


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    hold = float(sys.argv[sys.argv.index("--hold") + 1]) if "--hold" in sys.argv else 0
    mark = int(sys.argv[sys.argv.index("--mark") + 1]) if "--mark" in sys.argv else None
    # --sport: connect from this local port (on the loopback address of the family), as a
    # process that wants to pass for an earlier connection would.
    sport = int(sys.argv[sys.argv.index("--sport") + 1]) if "--sport" in sys.argv else None
    fam = family_of(host)
    if mode == "v4mapped":
        fam, host = socket.AF_INET6, "::ffff:" + host
    kind = socket.SOCK_DGRAM if mode.startswith("udp") else socket.SOCK_STREAM
    s = socket.socket(fam, kind)
    try:
        if mark is not None:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
                result(event="mark_set", mark=mark)
            except OSError as e:
                result(event="mark_refused", errno=e.errno)
        if mode == "bindfirst" or sport is not None:
            if sport is not None:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1" if fam == socket.AF_INET else "::1", sport or 0))
        if mode == "udp-sendto":
            s.sendto(b"quic-initial", (host, port))
            result(ok=True)
            return
        if mode == "udp-connect":
            s.connect((host, port))
            s.send(b"quic-initial")
            result(ok=True)
            return
        if mode == "tfo":
            s.sendto(b"hello", MSG_FASTOPEN, (host, port))
        elif mode == "nonblock":
            s.setblocking(False)
            rc = s.connect_ex((host, port))
            if rc not in (0, errno.EINPROGRESS):
                raise OSError(rc, os.strerror(rc))
            select.select([], [s], [], 5)
            rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if rc:
                raise OSError(rc, os.strerror(rc))
            s.setblocking(True)
        else:
            s.connect((host, port))
        finish_tcp(s, hold, greeted=(mode == "tfo"))
    except OSError as e:
        result(ok=False, stage="connect", errno=e.errno, error=errno.errorcode.get(e.errno, "?"))
    finally:
        s.close()


if __name__ == "__main__":
    main()
