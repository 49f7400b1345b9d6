"""Framing between the runtime and a worker (stdlib only: also runs inside the worker).

Requests: ``>II`` (header length, body length), a JSON header the worker reads (the
call's limits), and a body the worker never parses: it goes to the forked child as is.
Responses: ``>III`` (header length, output length, result length), a JSON header written
by the worker (duration, or an error it determined: timeout, output cap, how the child
died), then the child's raw output and raw result document, which the runtime decodes.

The worker keeps call data only in :class:`WipedBuffer` s that it zeroes after each call,
so a later child, which inherits the worker's memory through ``fork()``, cannot find an
earlier call's arguments, environment, memory blocks or output in it.
"""

from __future__ import annotations

import json
import os
import struct

# Only the standard library, and as little of it as possible: every module imported here
# is memory that each forked child maps (and pays for in fork and exit time).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

REQUEST_PREFIX = struct.Struct(">II")
RESPONSE_PREFIX = struct.Struct(">III")
MAX_HEADER = 1 << 20
MAX_BODY = 256 << 20


def encode_request(header: dict[str, Any], body: bytes) -> bytes:
    """A request frame (runtime side)."""
    head = json.dumps(header).encode("ascii")
    return REQUEST_PREFIX.pack(len(head), len(body)) + head + body


def encode_header(header: dict[str, Any], output_size: int = 0, result_size: int = 0) -> bytes:
    """The start of a response frame: prefix and header (worker side)."""
    head = json.dumps(header).encode("ascii")
    return RESPONSE_PREFIX.pack(len(head), output_size, result_size) + head


class WipedBuffer:
    """A reusable byte buffer that never leaves unzeroed copies of its content behind."""

    def __init__(self, size: int = 1 << 16) -> None:
        self._data = bytearray(size)
        self.filled = 0

    def reserve(self, size: int) -> None:
        """Empty the buffer and make room for ``size`` bytes (old memory is wiped)."""
        self.wipe()
        if size > len(self._data):
            self._data = bytearray(max(size, 2 * len(self._data)))

    def view(self) -> memoryview:
        return memoryview(self._data)[: self.filled]

    def read_available(self, fd: int, limit: int) -> int:
        """Read what ``fd`` has, keeping at most ``limit + 1`` bytes; 0 means EOF.

        Call :meth:`reserve` with ``limit + 1`` first. Raises :class:`BlockingIOError`
        when a non-blocking ``fd`` has nothing. ``filled > limit`` tells that the data
        went past the limit.
        """
        count = os.readv(fd, [memoryview(self._data)[self.filled : limit + 1]])
        self.filled += count
        return count

    def read_exact(self, fd: int, size: int) -> bool:
        """Fill the buffer with exactly ``size`` bytes from ``fd``; False at EOF."""
        self.reserve(size)
        whole = memoryview(self._data)
        while self.filled < size:
            count = os.readv(fd, [whole[self.filled : size]])
            if count == 0:
                return False
            self.filled += count
        return True

    def truncate(self, size: int) -> None:
        """Keep the first ``size`` bytes (the rest is zeroed)."""
        if size < self.filled:
            self._data[size : self.filled] = bytes(self.filled - size)
            self.filled = size

    def wipe(self) -> None:
        """Zero what was read (everything past ``filled`` is zero already)."""
        self._data[: self.filled] = bytes(self.filled)
        self.filled = 0


def write_all(fd: int, *parts: bytes | memoryview) -> None:
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]
