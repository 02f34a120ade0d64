"""Allow-listed hosts: the rule every URL the runtime fetches on someone's behalf passes.

An entry is a host name (``api.example.com``), any subdomain of one (``*.example.com``), or
either with a port (``host:8443``). Used by the ``http_get`` tool, knowledge URL content and
knowledge sources, in the runtime file and the custom resource alike.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["RefusedURL", "check_url"]


class RefusedURL(ValueError):
    """The URL is not one the tool may fetch."""


def check_url(url: str, allowed_hosts: list[str]) -> None:
    """Raise ``RefusedURL`` unless ``url`` is http(s) on an allowed host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RefusedURL(f"refused: only http and https URLs are allowed, not '{parts.scheme or url}'")
    host = (parts.hostname or "").lower()
    if not host:
        raise RefusedURL(f"refused: '{url}' has no host")
    try:
        port = parts.port
    except ValueError as error:
        raise RefusedURL(f"refused: '{url}' has an invalid port") from error
    if not any(_host_matches(entry.lower(), host, port) for entry in allowed_hosts):
        raise RefusedURL(f"refused: host '{host}' is not in allowed_hosts ({', '.join(allowed_hosts)})")


def _host_matches(entry: str, host: str, port: int | None) -> bool:
    name, _, entry_port = entry.partition(":")
    if entry_port and (port is None or str(port) != entry_port):
        return False
    if name.startswith("*."):
        return host.endswith(name[1:])
    return host == name
