"""Network isolation of a warm worker process (stdlib only: runs inside the worker).

A worker that serves calls without network access isolates itself once, at start, and
every tool process it forks inherits that:

1. ``unshare(CLONE_NEWUSER | CLONE_NEWNET)``: a new user namespace (the worker's uid/gid
   mapped to themselves) owning a new, empty network namespace (only a loopback device,
   which stays down). Works where the kernel allows unprivileged user namespaces (most
   Linux distributions). Any capabilities then hold inside the new namespaces only: even
   a runtime running as root cannot re-enter the host's network, raise its rlimits, or
   read other processes' ``/proc/<pid>/environ`` and memory from a tool.
2. Else ``unshare(CLONE_NEWNET)`` alone, when the worker has ``CAP_SYS_ADMIN`` (root
   where user namespaces are disabled). A tool running as root could undo it.
3. In every case a Python audit hook (``sys.addaudithook``) refuses to create sockets
   other than ``AF_UNIX`` and refuses ``connect``/``bind``/``sendto``/``sendmsg`` and name
   resolution. ``AF_UNIX`` socket pairs stay possible (``asyncio`` needs one), but a tool
   cannot connect to a Unix socket path such as a database's or Docker's.

When neither namespace is available only (3) holds. It is a Python-level guard: it stops
``socket``, ``urllib``, ``http.client``, ``requests`` and the like, but not native code
(``ctypes``, C extensions that open sockets themselves) nor a subprocess (``curl``).
"""

from __future__ import annotations

import ctypes
import os
import sys
from _socket import AF_UNIX  # the C module: `socket` would import much more

# Only the standard library, and as little of it as possible: every module imported here
# is memory that each forked child maps (and pays for in fork and exit time).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

_BLOCKED_EVENTS = frozenset(
    {
        "socket.bind",
        "socket.connect",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
    }
)
_MESSAGE = "network access is disabled for this tool (allow_network=False)"


def isolate_network() -> str:
    """Cut this process off the network as well as the OS allows; return the mode used.

    Modes: ``"netns"``, ``"userns+netns"`` or ``"audit-hook"`` (the hook is installed in
    all three).
    """
    uid, gid = os.getuid(), os.getgid()
    if _unshare(CLONE_NEWUSER | CLONE_NEWNET):
        _map_ids(uid, gid)
        mode = "userns+netns"
    elif _unshare(CLONE_NEWNET):
        mode = "netns"
    else:
        mode = "audit-hook"
    sys.addaudithook(_socket_guard)
    return mode


def _unshare(flags: int) -> bool:
    unshare = getattr(os, "unshare", None)  # Python 3.12+
    if unshare is not None:
        try:
            unshare(flags)
        except OSError:
            return False
        return True
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.unshare(ctypes.c_int(flags))) == 0
    except (OSError, AttributeError):
        return False


def _map_ids(uid: int, gid: int) -> None:
    """Keep the same uid/gid inside the new user namespace (best effort)."""
    for path, text in (
        ("/proc/self/setgroups", "deny"),
        ("/proc/self/uid_map", f"{uid} {uid} 1"),
        ("/proc/self/gid_map", f"{gid} {gid} 1"),
    ):
        try:
            with open(path, "w") as handle:
                handle.write(text)
        except OSError:
            pass


def _socket_guard(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.__new__":
        if len(args) > 1 and args[1] != AF_UNIX:
            raise PermissionError(_MESSAGE)
    elif event in _BLOCKED_EVENTS:
        raise PermissionError(_MESSAGE)


def block_network() -> None:
    """Inside bubblewrap (already in an empty network namespace): the same audit hook, so
    a tool gets the same clear ``PermissionError``."""
    sys.addaudithook(_socket_guard)


def guard_public_network(net_guard: Any, allow: list[str]) -> None:
    """Inside bubblewrap with the host's network (``allow_network``): refuse connecting
    or sending to anything but public IP addresses and the operator's ``allow`` list
    (loopback, private, link-local and metadata ranges are refused, and so are Unix
    socket paths) at the Python level. Native code and subprocesses are not held by it:
    see docs/security.md."""
    policy = net_guard.AddressPolicy(allow)

    def guard(event: str, args: tuple[Any, ...]) -> None:
        if event in _ADDRESSED and len(args) > 1 and args[1] is not None:
            family = getattr(args[0], "family", None)
            reason = net_guard.sockaddr_refusal(family, args[1], policy)
            if reason is not None:
                raise PermissionError(f"tools may reach public addresses only ({reason} refused)")

    sys.addaudithook(guard)


_ADDRESSED = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
