"""Which network addresses a tenant may make the runtime (or a tool) reach.

Callbacks (and tools with network access) must not reach the operator's own network:
loopback, private ranges, link-local (cloud metadata at 169.254.169.254), carrier-grade
NAT, multicast, reserved and documentation ranges, in IPv4 and IPv6, including IPv6
forms that embed an IPv4 address (``::ffff:127.0.0.1``, 6to4, NAT64). Host names are
checked after resolution, and the caller connects to the address that was checked
(``resolve_allowed``), so a name cannot resolve to a public address for the check and a
private one for the connection.

Standard library only: the sandbox worker loads this file by path.
"""

from __future__ import annotations

import ipaddress
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_NUMERIC_V4 = frozenset("0123456789abcdefxABCDEFX.")


class BlockedAddress(Exception):
    """The destination is not allowed; ``reason`` is a short class such as ``loopback``."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason} address refused")
        self.host = host
        self.reason = reason


def parse_ip(host: str) -> IPAddress | None:
    """The address a host string denotes without DNS, in every form a resolver accepts.

    Besides the usual notations this reads what ``inet_aton`` reads: ``127.1``,
    ``0x7f000001``, ``2130706433``, ``0177.0.0.1``. IPv6 may be bracketed and carry a
    zone (``fe80::1%eth0``). Returns None for a name.
    """
    text = host.strip().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    if not text or not set(text) <= _NUMERIC_V4 or not text[0].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def address_class(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address, or None when it is one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or _embedded_v4(address)
        if embedded is not None:
            return address_class(embedded)
    if address in _METADATA:
        return "metadata"
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return None


class AddressPolicy:
    """Public addresses only, plus an operator's allow-list (CIDRs and host names).

    ``allow_private`` turns the check off (local development, tests).
    """

    def __init__(self, allow: Iterable[str] = (), *, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._hosts: set[str] = set()
        for entry in allow:
            text = entry.strip()
            if not text:
                continue
            try:
                self._networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                self._hosts.add(text.lower().rstrip("."))

    def _allowed(self, address: IPAddress) -> bool:
        plain = address
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            plain = address.ipv4_mapped
        return any(
            plain in network for network in self._networks if plain.version == network.version
        )

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self._hosts

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached under this policy, or None."""
        if self.allow_private or self._allowed(address):
            return None
        return address_class(address)

    def check_literal(self, host: str) -> None:
        """Refuse what is private by its spelling alone (no DNS): an IP literal or a
        local name. Raises :class:`BlockedAddress`."""
        if self.allow_private or self.host_allowed(host):
            return
        name = host.strip().lower().rstrip(".")
        if name in _LOCAL_NAMES or name.endswith(".localhost"):
            raise BlockedAddress(host, "loopback")
        address = parse_ip(host)
        if address is not None:
            reason = self.refusal(address)
            if reason is not None:
                raise BlockedAddress(host, reason)

    def resolve_allowed(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` and return its addresses, all of which are allowed.

        Raises :class:`BlockedAddress` when any address is refused (a name that resolves
        to one public and one private address is refused), and :class:`OSError` when the
        name does not resolve.
        """
        self.check_literal(host)
        literal = parse_ip(host)
        if literal is not None:
            return [literal]
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = _unique(
            ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos
        )
        if not addresses:
            raise OSError(f"{host} did not resolve")
        if self.host_allowed(host):
            return addresses
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                raise BlockedAddress(host, reason)
        return addresses


def url_problem(url: str, policy: AddressPolicy, max_chars: int = 2048) -> str | None:
    """Why ``url`` cannot be a callback address, judged without DNS, or None: an http(s)
    URL with a host, at most ``max_chars`` long, whose host is not private by its
    spelling (an IP literal in any notation, ``localhost``)."""
    from urllib.parse import urlsplit

    if len(url) > max_chars:
        return f"longer than {max_chars} characters"
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    host = parts.hostname
    if not host:
        return "has no host"
    if port == 0:
        return "port 0 is not valid"
    try:
        policy.check_literal(host)
    except BlockedAddress as exc:
        return f"{exc.reason} addresses are not allowed as callback targets ({host})"
    return None


def _unique(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    seen: list[IPAddress] = []
    for address in addresses:
        if address not in seen:
            seen.append(address)
    return seen


def sockaddr_refusal(
    family: int, sockaddr: Sequence[object] | str | bytes, policy: AddressPolicy | None = None
) -> str | None:
    """For the sandbox's socket guard: why connecting to ``sockaddr`` is refused (public
    IP addresses, and those ``policy`` allows; never a Unix socket path), or None."""
    if family == socket.AF_UNIX:
        return "unix socket"
    if family not in (socket.AF_INET, socket.AF_INET6):
        return "address family"
    if isinstance(sockaddr, (str, bytes)) or not sockaddr:
        return "address"
    host = sockaddr[0]
    if not isinstance(host, str):
        return "address"
    address = parse_ip(host)
    if address is None:
        return "unresolved name"  # the socket layer would resolve it: refuse, resolve first
    return (policy or _PUBLIC_ONLY).refusal(address)


_PUBLIC_ONLY = AddressPolicy()
