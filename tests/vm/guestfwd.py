"""QEMU ``guestfwd=tcp:IP:PORT-cmd:python3 guestfwd.py HOSTPORT``: one guest connection <-> one
connection to 127.0.0.1:HOSTPORT, spawned by QEMU per connection (stdin/stdout are the guest's
socket). A ``tcp:`` chardev target instead is a single connection made when QEMU starts: QEMU
refuses to start when nothing listens (a stopped relying party), and a second guest connection
has nowhere to go. When the host port refuses, this exits and the guest's connection closes.
"""

from __future__ import annotations

import os
import select
import socket
import sys


def main() -> int:
    try:
        upstream = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    except OSError:
        return 1
    upstream.settimeout(None)
    guest_open = True
    while True:
        readable, _, _ = select.select([0, upstream] if guest_open else [upstream], [], [])
        if 0 in readable:
            data = os.read(0, 65536)
            if data:
                upstream.sendall(data)
            else:
                guest_open = False
                upstream.shutdown(socket.SHUT_WR)
        if upstream in readable:
            data = upstream.recv(65536)
            if not data:
                return 0
            view = memoryview(data)
            while view:
                view = view[os.write(1, view) :]


if __name__ == "__main__":
    raise SystemExit(main())
