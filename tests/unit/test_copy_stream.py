"""The COPY writer's send buffer: widened on the connection's own socket, left open afterwards."""

from __future__ import annotations

import os
import socket

from ingestion.writers.copy_stream import widen_send_buffer


def _sndbuf(sock: socket.socket) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


def test_widening_grows_the_send_buffer_and_keeps_the_socket_usable():
    a, b = socket.socketpair()
    with a, b:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 << 10)
        before = _sndbuf(a)
        widen_send_buffer(a.fileno(), 1 << 20)
        assert _sndbuf(a) > before  # the kernel caps it at wmem_max, which is above 64 KiB everywhere
        a.sendall(b"still open")
        assert b.recv(16) == b"still open"


def test_widening_a_descriptor_that_is_not_a_socket_is_a_no_op():
    read, write = os.pipe()
    try:
        widen_send_buffer(read)  # no exception, no leaked descriptor closing the pipe
        os.write(write, b"x")
        assert os.read(read, 1) == b"x"
    finally:
        os.close(read)
        os.close(write)
