"""Allow-listed hosts: the rule every URL the runtime fetches on someone's behalf passes.

An entry is a host name (``api.example.com``), any subdomain of one (``*.example.com``), or
either with a port (``host:8443``). Used by the ``http_get`` tool, knowledge URL content and
knowledge sources, in the runtime file and the custom resource alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, StringConstraints

from agentos_runtime.errors import DescribedFailure

__all__ = [
    "EndpointURL",
    "RefusedURL",
    "check_url",
    "control_problem",
    "endpoint_problem",
    "host_allowed",
    "split_host",
]

# ASCII control characters (CR, LF, TAB, NUL, DEL...): ``urlsplit`` silently drops some of them
# and HTTP clients refuse them all, so a URL holding one is refused before it is kept or fetched.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RefusedURL(DescribedFailure, ValueError):
    """The URL is not one the tool may fetch (the message says why)."""


def check_url(url: str, allowed_hosts: Sequence[str]) -> None:
    """Raise ``RefusedURL`` unless ``url`` is http(s) on an allowed host."""
    host, port = split_host(url)
    if not host_allowed(host, port, allowed_hosts):
        raise RefusedURL(f"refused: host '{host}' is not in allowed_hosts ({', '.join(allowed_hosts)})")


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
    name, _, entry_port = entry.partition(":")
    if entry_port and (port is None or str(port) != entry_port):
        return False
    if name.startswith("*."):
        return host.endswith(name[1:])
    return host == name


def _endpoint(url: str) -> str:
    problem = endpoint_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


# A model's or an embedder's base URL: an http(s) URL the API paths can be appended to.
EndpointURL = Annotated[str, StringConstraints(pattern=r"^https?://"), AfterValidator(_endpoint)]
