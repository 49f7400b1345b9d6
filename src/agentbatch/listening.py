"""The listening socket a foreground server runs on, bound before anything is printed, so
that a port in use is one clear error rather than a banner followed by uvicorn's lines."""

from __future__ import annotations

import socket


def bind_listener(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A socket bound to ``host:port`` and listening (IPv4 or IPv6, as ``host`` resolves);
    raises ``OSError`` (port in use, unknown host) with nothing left open."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock
