"""An httpx transport that reaches only addresses an :class:`AddressPolicy` allows.

For each request it resolves the URL's host, refuses the request when any address is
refused (loopback, private, link-local, metadata...: see ``net_guard``), and connects to
the address it checked: the URL's host is replaced by that IP address while the
``Host`` header and, for HTTPS, the TLS server name (SNI, and certificate verification)
stay the original host's. A second DNS answer (rebinding) therefore never changes where
the request goes. It follows no redirects (the client's job; callbacks turn them off)
and ignores proxy variables (a proxy would connect on its own).
"""

from __future__ import annotations

import asyncio

import httpx

from agentbatch.net_guard import AddressPolicy, BlockedAddress


class DestinationRefused(httpx.TransportError):
    """The destination is not allowed; ``reason`` is the address class (``loopback``...)."""

    def __init__(self, message: str, reason: str, *, request: httpx.Request) -> None:
        super().__init__(message, request=request)
        self.reason = reason


class GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, policy: AddressPolicy, inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = await asyncio.to_thread(self.policy.resolve_allowed, host, port)
        except BlockedAddress as exc:
            raise DestinationRefused(str(exc), exc.reason, request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(f"{host} did not resolve", request=request) from exc
        request.url = url.copy_with(host=str(addresses[0]))
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
