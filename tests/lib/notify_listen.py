#!/usr/bin/env python3
"""Receives sd_notify datagrams on a Unix socket (the NOTIFY_SOCKET protocol systemd speaks) and
appends each message, one field per line, to a log file until killed."""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
with open(out, "a", buffering=1) as log:
    log.write("LISTENING\n")
    while True:
        data = sock.recv(65536)
        for field in data.decode("utf-8", "replace").split("\n"):
            if field:
                log.write(field + "\n")
