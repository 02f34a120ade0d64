"""The HTTP client for URLs fetched on someone's behalf (``http_get``, knowledge URLs and sources).

``check_url`` allows a URL by its host's name; this client checks the address the name resolves
to, when it connects: the name is resolved here, every address it gives is checked with
``connect_refusal``, and the connection goes to one of those very addresses, so a name that
resolves to a cloud metadata address, or is made to between the check and the connection (DNS
rebinding), is refused with ``RefusedAddress``. TLS still names the host (SNI, certificate), and
the ``Host`` header is the URL's.

Connections go straight to the host: ``HTTP_PROXY`` / ``HTTPS_PROXY`` are not used for these
URLs (httpx2 reads them only for a client built without a transport; models and embedders still
honour them), since a proxy resolves the name itself and the address it reaches could not be
checked here.

Loaded on the first fetch, not at start: it imports httpx2.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from ipaddress import ip_address
from typing import TYPE_CHECKING

import httpcore2
import httpx2

from agentos_runtime.config.hosts import IPAddress, RefusedURL, connect_refusal

if TYPE_CHECKING:
    from httpcore2._types import SOCKET_OPTION

__all__ = ["GuardedBackend", "RefusedAddress", "Resolver", "guarded_client", "system_resolver"]

# Resolves a host name and port to the addresses a connection may go to, in the order to try them.
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]


class RefusedAddress(RefusedURL):
    """The URL's host is, or resolves to, an address the runtime does not connect to."""


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses the system's resolver gives for ``host``, each once, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(info[4][0]) for info in infos))


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """Opens TCP connections only to addresses ``connect_refusal`` allows for ``allowed_hosts``."""

    def __init__(
        self,
        allowed_hosts: Sequence[str],
        *,
        resolver: Resolver | None = None,
        network: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allowed_hosts = list(allowed_hosts)
        self.resolver = system_resolver if resolver is None else resolver
        self.network = httpcore2.AnyIOBackend() if network is None else network

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        for address in addresses:
            refusal = connect_refusal(host, address, self.allowed_hosts)
            if refusal is not None:
                named = "" if str(address) == host else f"host '{host}' resolves to {address}: "
                raise RefusedAddress(f"refused: {named}{refusal}")
        failure: httpcore2.ConnectError | httpcore2.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self.network.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as error:
                failure = error
        raise failure or httpcore2.ConnectError(f"no address found for {host}")

    async def _resolve(self, host: str, port: int, timeout: float | None) -> Sequence[IPAddress]:
        try:
            return [ip_address(host)]
        except ValueError:
            pass
        try:
            async with asyncio.timeout(timeout):
                return await self.resolver(host, port)
        except TimeoutError as error:
            raise httpcore2.ConnectTimeout(f"resolving {host} took longer than {timeout:g}s") from error
        except OSError as error:
            raise httpcore2.ConnectError(f"resolving {host} failed: {error}") from error

    async def sleep(self, seconds: float) -> None:
        await self.network.sleep(seconds)


class _GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport on a connection pool that connects through ``backend``.

    httpx2 takes no network backend, so its pool (``_pool``, what every request goes through)
    is replaced by one built the same way with ``backend``."""

    def __init__(self, backend: GuardedBackend) -> None:
        ssl_context = httpx2.create_ssl_context()  # the system's CAs, or SSL_CERT_FILE's: built once
        super().__init__(verify=ssl_context)
        self._pool = httpcore2.AsyncConnectionPool(ssl_context=ssl_context, network_backend=backend)


def guarded_client(
    allowed_hosts: Sequence[str], *, timeout: float, resolver: Resolver | None = None
) -> httpx2.AsyncClient:
    """A client that follows no redirect (the caller checks each hop's URL), connects only to
    addresses allowed for ``allowed_hosts`` (names resolved by ``resolver``, the system's by
    default) and uses no proxy (it is given its transport)."""
    transport = _GuardedTransport(GuardedBackend(allowed_hosts, resolver=resolver))
    return httpx2.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False)
