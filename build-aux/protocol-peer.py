#!/usr/bin/env python3
# build-aux/protocol-peer.py — a minimal peer written from docs/protocol.md
# alone: it sends a few messages to Confab and acknowledges what Confab
# sends, printing it. Used by build-aux/screenshots; handy by hand too.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# usage: protocol-peer.py MY-PORT CONFAB-PORT [MESSAGE...]

import os
import socket
import struct
import sys
import time

MAGIC = b"\xffCFB\x01"


def message(session, seq, text, nick=b"Ada"):
    body = text.encode()
    return (MAGIC + b"\x01\x00\x00" +
            struct.pack(">QQQQQqIIHHB", session, seq, seq, session, seq,
                        int(time.time() * 1e6), len(body), 0, 0, 1, len(nick)) +
            nick + body)


def main():
    my_port, confab_port = int(sys.argv[1]), int(sys.argv[2])
    lines = sys.argv[3:]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", my_port))
    confab = ("127.0.0.1", confab_port)
    session = int.from_bytes(os.urandom(8), "big") | 1

    for seq, line in enumerate(lines, 1):
        sock.sendto(message(session, seq, line), confab)
        time.sleep(0.3)

    sock.settimeout(6)
    try:
        while True:
            data, sender = sock.recvfrom(2048)
            if sender[1] != confab_port or data[:5] != MAGIC:
                continue
            if data[5] == 1 and len(data) >= 69:
                their_session, seq = struct.unpack(">QQ", data[8:24])
                nick_len = data[68]
                print(data[69 + nick_len:].decode(errors="replace"), flush=True)
                sock.sendto(MAGIC + b"\x02\x00\x00" +
                            struct.pack(">QQH", their_session, seq + 1, 0), confab)
            elif data[5] == 3:
                sock.sendto(MAGIC + b"\x04\x00\x00" + data[8:16], confab)
    except socket.timeout:
        pass


if __name__ == "__main__":
    main()
