"""Allow-listed hosts: the rule every URL the runtime fetches on someone's behalf passes.

An entry is a host name (``api.example.com``), any subdomain of one (``*.example.com``), an IP
address (``10.0.0.7``, ``[fd00::7]``), or any of these with a port (``host:8443``). Used by the
``http_get`` tool, knowledge URL content and knowledge sources, in the runtime file and the
custom resource alike.

The names are checked before each request; the address a name resolves to is checked when the
connection is made (``agentos_runtime.guarded_http``), against ``connect_refusal``: link-local
addresses (where cloud metadata services answer), the metadata addresses outside that range and
the unspecified address are refused unless the URL is that address written literally and
``allowed_hosts`` lists it. Private ranges and loopback stay reachable by name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, StringConstraints

from agentos_runtime.errors import DescribedFailure

__all__ = [
    "EndpointURL",
    "IPAddress",
    "RefusedURL",
    "address_refusal",
    "check_url",
    "connect_refusal",
    "control_problem",
    "endpoint_problem",
    "host_allowed",
    "split_host",
]

# ASCII control characters (CR, LF, TAB, NUL, DEL...): ``urlsplit`` silently drops some of them
# and HTTP clients refuse them all, so a URL holding one is refused before it is kept or fetched.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

IPAddress = IPv4Address | IPv6Address

# Cloud metadata services outside the link-local ranges: AWS's IPv6 endpoint (a unique local
# address) and Alibaba Cloud's (in the shared 100.64.0.0/10 range); the others answer on
# 169.254.169.254, which is link-local.
_METADATA_ADDRESSES = frozenset({ip_address("fd00:ec2::254"), ip_address("100.100.100.200")})
_LINK_LOCAL_V4 = IPv4Network("169.254.0.0/16")
_LINK_LOCAL_V6 = IPv6Network("fe80::/10")


class RefusedURL(DescribedFailure, ValueError):
    """The URL is not one the tool may fetch (the message says why)."""


def check_url(url: str, allowed_hosts: Sequence[str]) -> None:
    """Raise ``RefusedURL`` unless ``url`` is http(s) on an allowed host."""
    host, port = split_host(url)
    if not host_allowed(host, port, allowed_hosts):
        raise RefusedURL(f"refused: host '{host}' is not in allowed_hosts ({', '.join(allowed_hosts)})")


def address_refusal(address: IPAddress) -> str | None:
    """Why the runtime may not connect to ``address`` on someone's behalf, else None: a link-local
    address (IPv4, IPv6, or IPv4 written as IPv6), a cloud metadata address, or the unspecified
    address. The message names the class of the address and how to allow it anyway."""
    kind = _refused_kind(address)
    if kind is None:
        return None
    return (
        f"{address} is {kind}, which is not connected to on someone's behalf; to reach it anyway,"
        f" write the address itself in allowed_hosts ({_literal_entry(address)}, or with ':port') and use"
        " it in the URL: a name resolving to it stays refused"
    )


def connect_refusal(host: str, address: IPAddress, allowed_hosts: Sequence[str]) -> str | None:
    """Why a connection for a URL on ``host`` may not go to ``address`` (``host`` resolved, or
    ``host`` itself when it is an address), else None. A refused address is allowed only when
    ``host`` is that very address and ``allowed_hosts`` lists it literally."""
    refusal = address_refusal(address)
    if refusal is None or (_address_or_none(host) == address and address in _listed_addresses(allowed_hosts)):
        return None
    return refusal


def _refused_kind(address: IPAddress) -> str | None:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        inner = _refused_kind(address.ipv4_mapped)
        return None if inner is None else f"an IPv4-mapped form of {address.ipv4_mapped}, {inner}"
    if address.is_unspecified:
        return "the unspecified address (it reaches this host itself)"
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata service address"
    if address in _LINK_LOCAL_V4 or address in _LINK_LOCAL_V6:
        network = _LINK_LOCAL_V4 if address.version == 4 else _LINK_LOCAL_V6
        return f"a link-local address ({network}, where cloud metadata services answer)"
    return None


def _literal_entry(address: IPAddress) -> str:
    return str(address) if address.version == 4 else f"[{address}]"


def _address_or_none(host: str) -> IPAddress | None:
    try:
        return ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _listed_addresses(allowed_hosts: Sequence[str]) -> set[IPAddress]:
    listed = (_address_or_none(_entry_parts(entry.lower())[0]) for entry in allowed_hosts)
    return {address for address in listed if address is not None}


def split_host(url: str) -> tuple[str, int | None]:
    """The host (lower case) and port of an http(s) URL; ``RefusedURL`` for another scheme, or
    a URL holding a control character, without a host or with a port that is no number in range."""
    control = control_problem(url)
    if control is not None:
        raise RefusedURL(f"refused: {control}")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # an unclosed IPv6 bracket
        raise RefusedURL(f"refused: '{url}' is not a valid URL") from error
    if parts.scheme not in ("http", "https"):
        raise RefusedURL(f"refused: only http and https URLs are allowed, not '{parts.scheme or url}'")
    host = (parts.hostname or "").lower()
    if not host:
        raise RefusedURL(f"refused: '{url}' has no host")
    try:
        port = parts.port
    except ValueError as error:
        raise RefusedURL(f"refused: '{url}' has an invalid port") from error
    return host, port


def control_problem(url: str) -> str | None:
    """Why ``url`` cannot be sent (it holds a control character), quoting only that character."""
    control = _CONTROL.search(url)
    if control is None:
        return None
    return (
        f"the URL holds a control character ({control.group()!r}) at position {control.start()}: "
        "remove it, or percent-encode it"
    )


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` cannot be a model's or an embedder's base URL (the API paths are appended to it), else None.

    Never quotes the URL: credentials written into it are a secret."""
    try:
        split_host(url)
    except RefusedURL as refused:
        return str(refused).removeprefix("refused: ").replace(f"'{url}' ", "the URL ")
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return (
            "the URL holds credentials (user:password@), which are not sent: remove them, and give the key"
            " in the API key's environment variable or Secret"
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "the URL holds a query or fragment, which the API paths appended to it would drop: remove it"
    return None


def host_allowed(host: str, port: int | None, allowed_hosts: Sequence[str]) -> bool:
    """Whether ``host`` (lower case) on ``port`` matches an entry of ``allowed_hosts``."""
    return any(_host_matches(entry.lower(), host, port) for entry in allowed_hosts)


def _host_matches(entry: str, host: str, port: int | None) -> bool:
    name, entry_port = _entry_parts(entry)
    if entry_port and (port is None or str(port) != entry_port):
        return False
    if name.startswith("*."):
        return host.endswith(name[1:])
    return host == name


def _entry_parts(entry: str) -> tuple[str, str]:
    """An entry's host (an IPv6 address without its brackets) and its port ('' when none)."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, rest.removeprefix(":")
    name, _, port = entry.partition(":")
    return name, port


def _endpoint(url: str) -> str:
    problem = endpoint_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


# A model's or an embedder's base URL: an http(s) URL the API paths can be appended to.
EndpointURL = Annotated[str, StringConstraints(pattern=r"^https?://"), AfterValidator(_endpoint)]
