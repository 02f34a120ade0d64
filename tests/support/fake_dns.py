"""A resolver for the guarded HTTP client: host names answered from a table, each lookup recorded.

A name maps to the answers of its successive lookups; the last one repeats. ``metadata.test``
resolving to ``169.254.169.254`` is the cloud metadata service behind an allow-listed name, and
``rebind.test`` answering ``127.0.0.1`` and then ``169.254.169.254`` is a DNS rebinding.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address


class FakeDNS:
    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPv4Address | IPv6Address]:
        self.lookups.append(host)
        answers = self.table.get(host)
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        seen = self.lookups.count(host)
        return [ip_address(address) for address in answers[min(seen, len(answers)) - 1]]


def fake_dns() -> FakeDNS:
    return FakeDNS(
        {
            "metadata.test": [["169.254.169.254"]],
            "mapped.test": [["::ffff:169.254.169.254"]],
            "intranet.test": [["127.0.0.1"]],
            "rebind.test": [["127.0.0.1"], ["169.254.169.254"]],
            "mixed.test": [["127.0.0.1", "fe80::1"]],
        }
    )
