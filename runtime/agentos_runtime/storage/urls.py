"""Database URLs: read from the environment, normalised to our drivers, and never shown whole.

A URL carries a password, so nothing outside this module formats one: errors name the
database id and the environment variable, and ``redact`` strips any credential from text
that may have picked one up (a driver's message, say).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import SplitResult, parse_qs, urlsplit

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable

# Whatever PostgreSQL scheme a user (or CloudNativePG's `uri` key) gives, we speak psycopg 3.
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2", "postgresql+asyncpg")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
# `scheme://user:password@` in free text.
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
# Where a database is, as drivers write it: IPv4 and IPv6 addresses, `<host>:6379`, `port 5432`,
# and the role PostgreSQL names (`for user "app"`, `role "app" does not exist`).
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])(?=[0-9A-Fa-f:]*::|(?:[0-9A-Fa-f]{1,4}:){7})[0-9A-Fa-f:]{2,}(?![\w:])")
_HOST_PORT = re.compile(r"<host>:\d+")
_PORT_WORD = re.compile(r"\bport \d+", re.IGNORECASE)
_QUOTED_ROLE = re.compile(r'\b(user|role) "[^"]*"')
_QUOTED_DATABASE = re.compile(r'\bdatabase "[^"]*"')
# Where libpq looked, in psycopg's words: a host it could not resolve, a Unix socket's path.
_RESOLVED_HOST = re.compile(r"\b(resolve host) '[^']*'")
_SOCKET = re.compile(r'\b(socket) "[^"]*"')
# A libpq connection's description (``host=db user=app database=appdb``), as psycopg gives it.
_CONNINFO = re.compile(r"\b(host|hostaddr|port|user|dbname|database)=(?:\"[^\"]*\"|'[^']*'|[^\s>)]+)")
_CONNINFO_NAMES = {"host": "host", "hostaddr": "host", "port": "port", "user": "user", "dbname": "database"}


def database_url(config: DatabaseConfig, environ: Mapping[str, str]) -> str:
    """The URL of a postgres/redis database, from its environment variable, driver normalised.

    Surrounding whitespace is dropped: a URL Secret made from a file, or with ``echo``, ends in a
    newline, which PostgreSQL read as part of the database's name. Raises ``StorageUnavailable``
    when the variable is unset or its scheme is not one we speak; the message names the
    variable, never its value.
    """
    env_name = config.url_env_name
    url = environ.get(env_name, "").strip() if env_name else ""
    if not url:
        raise StorageUnavailable(f"database '{config.id}': environment variable {env_name} is not set")
    scheme, separator, rest = url.partition("://")
    problem = url_problem(url) if separator else None
    if problem is not None:
        raise StorageUnavailable(f"database '{config.id}': {env_name} {problem}")
    if config.type == "postgres" and separator and scheme in _POSTGRES_SCHEMES:
        return f"postgresql+psycopg://{rest}"
    if config.type == "redis" and separator and scheme in _REDIS_SCHEMES:
        return url
    raise StorageUnavailable(
        f"database '{config.id}': {env_name} does not hold a {config.type} URL (scheme '{scheme if separator else ''}')"
    )


def url_problem(url: str) -> str | None:
    """What makes ``url`` one no driver can connect with (said without quoting it), or ``None``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a valid URL (check the brackets around an IPv6 host)"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "has an invalid port (expected 1 to 65535)"
    if parts.netloc.count("@") > 1:
        # Drivers disagree on which '@' ends the password: libpq takes the first and would look
        # up the rest of the password as the host name, and say so in its error.
        return "holds '@' in its user or password: percent-encode each one there as %40"
    if parts.scheme in ("redis", "rediss"):
        path = parts.path.strip("/")
        if path and not path.isdigit():
            return "names a Redis database that is not a number: end it with /0, /1, ..."
        if path and "db" in parse_qs(parts.query):
            return "names its Redis database twice (in the path and in ?db=): keep one"
    return None


def redact(text: str, url: str | None = None) -> str:
    """``text`` without URL credentials, IP addresses, database names, and ``url``'s host, port and user.

    A driver's message says where it failed to connect (``connection to server at "10.0.0.5",
    port 5432``, ``password authentication failed for user "app"``); callers get the database
    id instead, which names the same thing without telling anyone where the database is.
    """
    cleaned = _CREDENTIALS.sub(lambda match: f"{match.group('scheme')}***@", text)
    cleaned = _CONNINFO.sub(
        lambda match: f"{match.group(1)}=<{_CONNINFO_NAMES.get(match.group(1), 'database')}>", cleaned
    )
    parts = urlsplit(url) if url else None
    password = parts.password if parts is not None else None
    if password:
        cleaned = cleaned.replace(password, "***")
    hosts, ports, users = _location(parts)
    cleaned = _SOCKET.sub(r'\1 "<socket>"', _RESOLVED_HOST.sub(r"\1 '<host>'", cleaned))
    for host in hosts:
        cleaned = re.sub(rf"(?<![\w.-]){re.escape(host)}(?![\w-])", "<host>", cleaned, flags=re.IGNORECASE)
    for user in users:
        cleaned = re.sub(rf"(?<![\w.-]){re.escape(user)}(?![\w.-])", "<user>", cleaned)
    cleaned = _IPV4.sub("<host>", cleaned)
    cleaned = _IPV6.sub("<host>", cleaned)
    cleaned = _QUOTED_ROLE.sub(lambda match: f'{match.group(1)} "<user>"', cleaned)
    cleaned = _QUOTED_DATABASE.sub('database "<database>"', cleaned)
    cleaned = _HOST_PORT.sub("<host>:<port>", cleaned)
    cleaned = _PORT_WORD.sub("port <port>", cleaned)
    for port in ports:
        cleaned = re.sub(rf"(?<![\w.]){re.escape(port)}(?![\w.])", "<port>", cleaned)
    return cleaned


def _location(parts: SplitResult | None) -> tuple[list[str], list[str], list[str]]:
    """The hosts, ports and users a URL names: its own, and those of libpq's query parameters
    (``?host=a,b&port=6543`` or a socket directory, ``hostaddr``, ``user``); longest first."""
    if parts is None:
        return [], [], []
    try:
        port = parts.port
    except ValueError:
        port = None
    query = parse_qs(parts.query)

    def named(*fields: str) -> list[str]:
        return [entry.strip() for field in fields for value in query.get(field, ()) for entry in value.split(",")]

    hosts = [parts.hostname or "", *named("host", "hostaddr")]
    ports = [str(port) if port is not None else "", *named("port")]
    users = [parts.username or "", *named("user")]

    def longest_first(found: list[str]) -> list[str]:
        return sorted({value for value in found if value}, key=len, reverse=True)

    return longest_first(hosts), longest_first(ports), longest_first(users)
