"""What the runtime says as it starts: which config, which storage, which models and their keys.

``startup_lines`` decides the lines (a pure function of the config, the databases to open and
the environment); ``log_startup`` logs them. A database is named by its id, kind and where it
lives: the SQLite file, or the variable holding a PostgreSQL or Redis URL and whether it is
set, never the URL. A model is named by its id, model name and endpoint (without any user,
password or query in it), and whether its key variable is set, never the key. A model on
OpenAI's endpoint without its key logs at WARNING: OpenAI refuses every request without one
(any other endpoint is called without a key, as local servers need none). An MCP server is named
by its id, transport and endpoint (or command), and the names of its headers or env variables
with the variable each value comes from and whether it is set, empty or not set (the last two
at WARNING: start-up then stops, naming the variable), never a value. A knowledge base is named
by its id, its database, its embedder's model and endpoint, and whether the embedder's key
variable is set, never the key. The last line says how clients are authenticated (none, a
security key, JWTs), at WARNING when a key variable is set but empty, which turns auth off.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agentos_runtime.config import DatabaseConfig, ModelConfig, RuntimeConfig
from agentos_runtime.config.knowledge import KnowledgeBaseConfig
from agentos_runtime.config.mcp import McpServerConfig, VariableState, variable_state
from agentos_runtime.llm.keys import key_from, key_problem
from agentos_runtime.llm.openai import OPENAI_BASE_URL, needs_key
from agentos_runtime.storage.factory import sqlite_path

log = logging.getLogger("agentos_runtime.startup")


@dataclass(frozen=True)
class Line:
    """One start-up log line: its level, its text and the fields a JSON log line carries."""

    level: int
    text: str
    fields: dict[str, Any] = field(default_factory=dict)


def startup_lines(
    config_path: str | Path,
    config: RuntimeConfig,
    databases: Sequence[DatabaseConfig],
    environ: Mapping[str, str],
    *,
    data_dir: Path,
    auth_mode: str | None = None,
) -> list[Line]:
    """The lines logged at start, in order: the config, then each database, model, MCP server
    and knowledge base, then (given ``auth_mode``) how clients are authenticated."""
    components = ", ".join(
        _count(len(items), kind)
        for kind, items in (("agent", config.agents), ("team", config.teams), ("workflow", config.workflows))
    )
    lines = [Line(logging.INFO, f"config {config_path}: {components}", {"config": str(config_path)})]
    lines += [_database_line(db, environ, data_dir=data_dir, declared=bool(config.databases)) for db in databases]
    lines += [_model_line(model, environ) for model in config.models]
    lines += [_mcp_line(server, environ) for server in config.mcp_servers]
    default_db = _default_db_id(config, databases)
    lines += [_knowledge_line(base, environ, default_db) for base in config.knowledge_bases]
    if auth_mode is not None:
        lines.append(_auth_line(auth_mode, environ))
    return lines


_AUTH_VARIABLES = ("OS_SECURITY_KEY", "JWT_VERIFICATION_KEY", "JWT_JWKS_FILE")


def _auth_line(mode: str, environ: Mapping[str, str]) -> Line:
    """How clients are authenticated; names the variables, never a value."""
    fields: dict[str, Any] = {"auth_mode": mode}
    if mode == "jwt":
        given = [name for name in _AUTH_VARIABLES[1:] if environ.get(name)]
        return Line(
            logging.INFO, f"auth: JWT bearer tokens, verified with {' and '.join(given) or 'the JWT key'}", fields
        )
    if mode == "security_key":
        return Line(logging.INFO, "auth: security key from OS_SECURITY_KEY, sent by clients as a bearer token", fields)
    empty = [name for name in _AUTH_VARIABLES if name in environ and not environ[name]]
    if empty:
        text = (
            f"auth: none: {', '.join(empty)} set but empty, which turns auth off; every client may call every"
            " route: give it a value to require one"
        )
        return Line(logging.WARNING, text, fields | {"empty_env": empty})
    text = (
        "auth: none: every client may call every route (set OS_SECURITY_KEY, or JWT_VERIFICATION_KEY or JWT_JWKS_FILE)"
    )
    return Line(logging.INFO, text, fields)


def _default_db_id(config: RuntimeConfig, databases: Sequence[DatabaseConfig]) -> str:
    """The database of a knowledge base that names none (as the runtime picks it)."""
    if config.db is not None:
        return config.db
    if config.session is not None and config.session.dbs:
        return config.session.dbs[0].db_id
    return databases[0].id if databases else ""


def _knowledge_line(base: KnowledgeBaseConfig, environ: Mapping[str, str], default_db: str) -> Line:
    embedder = base.embedder
    endpoint = public_endpoint(embedder.base_url or environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL)
    db_id = base.db or default_db
    fields: dict[str, Any] = {
        "knowledge_base": base.id,
        "db_id": db_id,
        "embedder": embedder.model,
        "endpoint": endpoint,
        "sources": len(base.sources),
    }
    head = f"knowledge base {base.id}: database {db_id}, embedder {embedder.model} at {endpoint}"
    if base.sources:
        head += f", {_count(len(base.sources), 'source')}"
    return _key_line(head, fields, embedder.api_key_env, environ, endpoint=endpoint, setting="embedder.base_url")


def _count(number: int, kind: str) -> str:
    return f"{number} {kind}" + ("" if number == 1 else "s")


def _database_line(db: DatabaseConfig, environ: Mapping[str, str], *, data_dir: Path, declared: bool) -> Line:
    fields: dict[str, Any] = {"db_id": db.id, "db_type": db.type}
    if db.type == "sqlite":
        path = sqlite_path(db, data_dir).absolute()
        default = "" if declared else " (no database declared: the embedded default)"
        return Line(logging.INFO, f"database {db.id}: sqlite file {path}{default}", fields | {"path": str(path)})
    variable = db.url_env_name or ""
    state = "set" if environ.get(variable) else "NOT SET"
    where = f"schema {db.db_schema}" if db.type == "postgres" else f"key prefix {db.key_prefix}"
    level = logging.INFO if environ.get(variable) else logging.WARNING
    text = f"database {db.id}: {db.type}, {where}, URL from {variable} ({state})"
    return Line(level, text, fields | {"url_env": variable, "url_set": bool(environ.get(variable))})


def _model_line(model: ModelConfig, environ: Mapping[str, str]) -> Line:
    base_url = model.base_url or environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
    endpoint = public_endpoint(base_url)
    fields: dict[str, Any] = {"model_id": model.id, "model": model.model_name, "endpoint": endpoint}
    head = f"model {model.id}: {model.model_name} at {endpoint}"
    return _key_line(head, fields, model.api_key_env, environ, endpoint=endpoint, setting="base_url")


def _key_line(
    head: str,
    fields: dict[str, Any],
    key_env: str | None,
    environ: Mapping[str, str],
    *,
    endpoint: str,
    setting: str,
) -> Line:
    """An endpoint's line ending with where its key comes from: a warning only when the
    endpoint is OpenAI's and the key is not set (``setting`` names where to point it instead)."""
    if key_env is None:
        return Line(logging.INFO, f"{head}, no key (api_key_env is null)", fields | {"key_set": False})
    key = key_from(environ, key_env)
    fields = fields | {"key_env": key_env, "key_set": key is not None}
    problem = key_problem(key)
    if problem is not None:
        return Line(
            logging.WARNING, f"{head}, key from {key_env} (set, but {problem}: every request will fail)", fields
        )
    if key is not None:
        return Line(logging.INFO, f"{head}, key from {key_env} (set)", fields)
    if needs_key(endpoint):
        text = (
            f"{head}, key from {key_env} (NOT SET): OpenAI refuses requests without a key; "
            f"set {key_env}, or point {setting} at a local server"
        )
        return Line(logging.WARNING, text, fields)
    return Line(logging.INFO, f"{head}, key from {key_env} (not set: called without a key)", fields)


def _mcp_line(server: McpServerConfig, environ: Mapping[str, str]) -> Line:
    """Empty variables are told apart from unset ones, and both warn: opening the server's
    connection refuses either (``variable_state`` is the rule of both)."""
    where = f" at {public_endpoint(server.url or '')}" if server.command is None else f", command {server.command}"
    fields: dict[str, Any] = {"mcp_server": server.id, "transport": server.transport}
    values = [*server.headers, *server.env]
    states = {v.value_env: variable_state(v.value_env, environ) for v in values if v.value_env is not None}
    named = [f"{v.name} from {v.value_env} ({_STATE_WORDS[states[v.value_env]]})" for v in values if v.value_env]
    named += [f"{v.name} (literal)" for v in values if v.value_env is None]
    kind = "headers" if server.headers else "env"
    text = f"MCP server {server.id}: {server.transport}{where}" + (f", {kind} {', '.join(named)}" if named else "")
    unset = [variable for variable, state in states.items() if state == "not set"]
    empty = [variable for variable, state in states.items() if state == "empty"]
    level = logging.WARNING if unset or empty else logging.INFO
    return Line(level, text, fields | {"unset_env": unset, "empty_env": empty})


_STATE_WORDS: dict[VariableState, str] = {"set": "set", "empty": "EMPTY", "not set": "NOT SET"}


def public_endpoint(url: str) -> str:
    """``url`` without a user, password, query or fragment: what may be logged of an endpoint."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: the first request reports it
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def log_startup(
    config_path: str | Path,
    config: RuntimeConfig,
    databases: Sequence[DatabaseConfig],
    environ: Mapping[str, str],
    *,
    data_dir: Path,
    auth_mode: str | None = None,
) -> None:
    for line in startup_lines(config_path, config, databases, environ, data_dir=data_dir, auth_mode=auth_mode):
        log.log(line.level, "%s", line.text, extra=line.fields)
