#!/usr/bin/env python3
"""Fills the receive queue of a Unix datagram socket whose reader has stopped (a SIGSTOPped
journald): sends small datagrams without blocking, from as many sockets as it takes (one
sender's own send buffer runs out before the reader's queue does), until a fresh socket's first
datagram is refused with EAGAIN. Prints the number sent, then holds the sockets until killed, so
the queued datagrams stay queued."""
import socket
import sys
import time

path = sys.argv[1]
socks, sent = [], 0
while True:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.connect(path)
    socks.append(s)
    n = 0
    try:
        while True:
            s.send(b"MESSAGE=filler: the reader has stopped\nPRIORITY=7\n")
            n += 1
    except BlockingIOError:
        pass
    sent += n
    if n == 0:
        break
print(f"FILLED {sent}", flush=True)
while True:
    time.sleep(3600)
