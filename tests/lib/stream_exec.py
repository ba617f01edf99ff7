#!/usr/bin/env python3
"""Runs a command with stdout and stderr connected to journald's stream socket, as systemd does
for a service with StandardError=journal: connects to /run/systemd/journal/stdout, sends the
stream header journald expects, and shrinks the send buffer to the minimum so that a stopped
journald leaves the writer blocked (or refused) after a few lines instead of a few hundred KB.
Usage: stream_exec.py SOCKET IDENTIFIER COMMAND ARGS..."""
import os
import socket
import sys

path, ident, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
# identifier, unit id, priority, level prefix, forward to syslog, kmsg, console
s.sendall(f"{ident}\n\n6\n0\n0\n0\n0\n".encode())
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)
os.dup2(s.fileno(), 1)
os.dup2(s.fileno(), 2)
s.close()
os.execv(argv[0], argv)
