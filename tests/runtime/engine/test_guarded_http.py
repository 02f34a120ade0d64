"""The connection guard under ``http_get`` and knowledge URLs: which address a connection goes to.

The network below it is a fake that records the address and port each connection is opened to,
so an address nothing serves on here (``169.254.10.5``) can be shown to be connected to.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore2
import pytest
from agentos_runtime.guarded_http import GuardedBackend, RefusedAddress

from tests.support.fake_dns import FakeDNS, fake_dns


class RecordingNetwork(httpcore2.AsyncNetworkBackend):
    """Opens no socket: records each connection, and fails those to the addresses in ``down``."""

    def __init__(self, down: Iterable[str] = ()) -> None:
        self.down = set(down)
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *_: Any, **__: Any) -> httpcore2.AsyncNetworkStream:
        if host in self.down:
            raise httpcore2.ConnectError(f"{host} is down")
        self.connected.append((host, port))
        return httpcore2.AsyncMockStream([])


def guard(allowed_hosts: list[str], dns: FakeDNS | None = None, network: RecordingNetwork | None = None) -> Any:
    return GuardedBackend(allowed_hosts, resolver=dns or fake_dns(), network=network or RecordingNetwork())


async def test_a_link_local_address_listed_literally_is_connected_to_without_a_lookup() -> None:
    dns, network = fake_dns(), RecordingNetwork()

    await guard(["169.254.10.5:8080"], dns, network).connect_tcp("169.254.10.5", 8080)

    assert network.connected == [("169.254.10.5", 8080)]
    assert dns.lookups == []


async def test_a_name_resolving_to_an_address_listed_literally_stays_refused_and_nothing_is_opened() -> None:
    network = RecordingNetwork()

    with pytest.raises(RefusedAddress, match="host 'metadata.test' resolves to 169.254.169.254: 169.254.169.254 is"):
        await guard(["metadata.test", "169.254.169.254"], network=network).connect_tcp("metadata.test", 80)

    assert network.connected == []


async def test_a_link_local_address_not_listed_is_refused_by_itself() -> None:
    with pytest.raises(RefusedAddress) as refused:
        await guard(["docs.example.com"]).connect_tcp("169.254.169.254", 80)

    assert str(refused.value).startswith("refused: 169.254.169.254 is a link-local address")


async def test_a_name_is_connected_to_at_the_address_it_resolved_to() -> None:
    network = RecordingNetwork()

    await guard(["intranet.test"], network=network).connect_tcp("intranet.test", 8000)

    assert network.connected == [("127.0.0.1", 8000)]


async def test_the_next_address_of_a_name_is_tried_when_one_cannot_be_reached() -> None:
    dns = FakeDNS({"twice.test": [["10.0.0.7", "10.0.0.8"]]})
    network = RecordingNetwork(down=["10.0.0.7"])

    await guard(["twice.test"], dns, network).connect_tcp("twice.test", 443)

    assert network.connected == [("10.0.0.8", 443)]


async def test_a_name_that_does_not_resolve_is_a_connect_error_naming_it() -> None:
    with pytest.raises(httpcore2.ConnectError, match="resolving nowhere.test failed: .*Name or service not known"):
        await guard(["nowhere.test"]).connect_tcp("nowhere.test", 80)
