"""Process logging: readable text, or one JSON object per line (``AGENTOS_LOG_FORMAT=json``).

A JSON line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, the
``exception`` traceback when there is one, and every field a call passes in ``extra`` (the run
log carries ``run_id``, ``session_id``, ``component``, ``status``, tokens and duration). Both
formats replace the values of the process's secrets (security key, JWT key, database URLs, API
keys) with ``***`` wherever they would appear, as a last line of defence: the code does not log
them on purpose, and prompts and answers are never logged at INFO.

A message may quote what a client, a model or a tool said (a URL a model asked a tool to
fetch, an endpoint's error): its control characters are written escaped (``\n``, ``\x1b``), so
it can neither start a line of its own, as if logged by the runtime, nor drive the terminal
reading the log. JSON escapes those below U+0020 itself; a JSON line also escapes DEL, the C1
controls and U+2028/U+2029, which JSON allows raw.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from agentos_runtime.config import RuntimeConfig
from agentos_runtime.logcut import redact_halves
from agentos_runtime.settings import Settings
from agentos_runtime.storage import urls

REDACTED = "***"
# Shorter values are too likely to occur in ordinary text to be replaced safely.
MIN_SECRET_LENGTH = 6
# Attributes every LogRecord has; anything else on a record came from ``extra``.
STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# Extra fields a JSON line leaves out: uvicorn's ``color_message``, its message's format string
# with terminal colour codes (``Uvicorn running on \x1b[1m%s://%s:%d\x1b[0m``), for its own handler.
DROPPED_EXTRAS = frozenset({"color_message"})
TEXT_FORMAT = "%(levelname)s:     %(name)s: %(message)s"
# Libraries whose records may say where a database is (its host, port, user, database name).
DRIVER_LOGGERS = frozenset({"psycopg", "psycopg_pool", "sqlalchemy", "redis", "aiosqlite"})


# Characters a text line writes escaped: every control character but the tab, and the Unicode
# line and paragraph separators.
_TEXT_ESCAPES = {
    code: repr(chr(code))[1:-1] for code in (*range(0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
}
# What JSON allows raw but a terminal or a line-based reader may act on.
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in (*range(0x7F, 0xA0), 0x2028, 0x2029)}


def escape_controls(text: str) -> str:
    """``text`` as one line of plain characters: control characters written as escapes."""
    return text.translate(_TEXT_ESCAPES) if not text.isprintable() else text


class Redactor:
    """Replaces each known secret value in a text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Also without surrounding whitespace: a value read from a file often ends with a newline,
        # and keys and URLs are used stripped (``llm.keys``), so that is how they would appear.
        given = {value for s in secrets if s for value in (s, s.strip())}
        unique = {s for s in given if len(s) >= MIN_SECRET_LENGTH}
        # Also as it reads inside a JSON string (quotes, backslashes and newlines escaped).
        unique |= {json.dumps(s, ensure_ascii=False)[1:-1] for s in unique}
        self.secrets = sorted(unique, key=len, reverse=True)  # a longer secret containing a shorter one first

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        # A line cut before it was logged may end in the beginning of one.
        return redact_halves(text, self.secrets, redacted=REDACTED, min_length=MIN_SECRET_LENGTH)


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self.redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in STANDARD_ATTRIBUTES and key not in DROPPED_EXTRAS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(entry, ensure_ascii=False, default=str)).translate(_JSON_ESCAPES)


class TextFormatter(logging.Formatter):
    """The usual ``LEVEL: logger: message`` line, with secrets redacted."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact or Redactor()

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line before any traceback, control characters escaped (a traceback keeps its lines)."""
        return escape_controls(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def secret_values(settings: Settings, config: RuntimeConfig, environ: Mapping[str, str]) -> list[str | None]:
    """The values to redact: the security and JWT keys, every model, embedder and database URL
    variable, and the variables holding MCP header and env values."""
    names = [model.api_key_env for model in config.models] + [db.url_env_name for db in config.databases]
    names += [base.embedder.api_key_env for base in config.knowledge_bases]
    names += [name for server in config.mcp_servers for name in server.secret_env_names()]
    jwt_key = settings.jwt_verification_key.get_secret_value() if settings.jwt_verification_key else None
    return [settings.security_key, jwt_key, *(environ.get(name) for name in names if name)]


class LibraryThrottle(logging.Filter):
    """At most ``limit`` records per ``window`` seconds from each library logger; the runtime's own pass.

    A library can log once per line of someone else's output: the MCP SDK logs an ERROR with a
    traceback for each line a stdio server prints that is not JSON-RPC (``yes`` as a server: tens
    of thousands a minute). What is held back is counted, and the next record let through says how
    many were.
    """

    def __init__(self, *, limit: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.limit = limit
        self.window = window
        self.clock = clock
        self._windows: dict[str, tuple[float, int, int]] = {}  # logger: (window start, passed, held back)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "agentos_runtime" or record.name.startswith("agentos_runtime."):
            return True
        now = self.clock()
        started, passed, held = self._windows.get(record.name, (now, 0, 0))
        if now - started >= self.window:
            started, passed = now, 0
        if passed >= self.limit:
            self._windows[record.name] = (started, passed, held + 1)
            return False
        if held:
            record.msg = f"{record.getMessage()} ({held} more from {record.name} held back before this one)"
            record.args = None
        self._windows[record.name] = (started, passed + 1, 0)
        return True


class DriverRedaction(logging.Filter):
    """Database drivers' records without where the database is.

    psycopg's pool logs each failed connection with the driver's text (``connection to server
    at "10.0.0.5", port 5432 failed``) and a broken connection with its description (host, user,
    database name). The runtime's own messages name the database id instead; these records get
    the same treatment (``storage.urls.redact``, with each database URL the process was given).
    """

    def __init__(self, database_urls: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.database_urls: list[str | None] = [url for url in database_urls if url] or [None]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".", 1)[0] in DRIVER_LOGGERS:
            message = record.getMessage()
            for url in self.database_urls:
                message = urls.redact(message, url)
            record.msg, record.args = message, None
        return True


def database_urls(config: RuntimeConfig, environ: Mapping[str, str]) -> list[str | None]:
    """The URL of each database the config reads from the environment (``None`` when unset)."""
    return [environ.get(db.url_env_name, "").strip() or None for db in config.databases if db.url_env_name]


def configure_logging(
    level: str,
    log_format: str,
    *,
    secrets: Iterable[str | None] = (),
    locations: Iterable[str | None] = (),
) -> logging.Handler:
    """Log to stderr in ``log_format`` (``text`` or ``json``): the runtime's own loggers at ``level``,
    other libraries' only from WARNING (at ``debug``, everything), so no client library logs a
    line per request, and at most ten a minute each (``LibraryThrottle``); database drivers'
    records without where the databases at ``locations`` (their URLs) are (``DriverRedaction``).
    Replaces the root logger's handlers; returns the one installed.
    """
    redact = Redactor(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if log_format == "json" else TextFormatter(redact))
    handler.addFilter(LibraryThrottle())
    handler.addFilter(DriverRedaction(locations))
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    logging.getLogger("agentos_runtime").setLevel(level.upper())
    return handler
