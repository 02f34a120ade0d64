"""Database URLs: read from the environment, normalised to our drivers, and never shown whole.

A URL carries a password, so nothing outside this module formats one: errors name the
database id and the environment variable, and ``redact`` strips any credential from text
that may have picked one up (a driver's message, say).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable

# Whatever PostgreSQL scheme a user (or CloudNativePG's `uri` key) gives, we speak psycopg 3.
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2", "postgresql+asyncpg")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
# `scheme://user:password@` in free text.
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def database_url(config: DatabaseConfig, environ: Mapping[str, str]) -> str:
    """The URL of a postgres/redis database, from its environment variable, driver normalised.

    Raises ``StorageUnavailable`` when the variable is unset or its scheme is not one we speak;
    the message names the variable, never its value.
    """
    env_name = config.url_env_name
    url = environ.get(env_name, "") if env_name else ""
    if not url:
        raise StorageUnavailable(f"database '{config.id}': environment variable {env_name} is not set")
    scheme, separator, rest = url.partition("://")
    if config.type == "postgres" and separator and scheme in _POSTGRES_SCHEMES:
        return f"postgresql+psycopg://{rest}"
    if config.type == "redis" and separator and scheme in _REDIS_SCHEMES:
        return url
    raise StorageUnavailable(
        f"database '{config.id}': {env_name} does not hold a {config.type} URL (scheme '{scheme if separator else ''}')"
    )


def redact(text: str, url: str | None = None) -> str:
    """``text`` without URL credentials, and without ``url``'s password wherever it appears."""
    cleaned = _CREDENTIALS.sub(lambda match: f"{match.group('scheme')}***@", text)
    password = urlsplit(url).password if url else None
    return cleaned.replace(password, "***") if password else cleaned
