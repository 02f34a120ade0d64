"""The start-up lines: which config, which storage and which models, with no URL and no key in them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from agentos_runtime.config import DatabaseConfig, parse_config_text
from agentos_runtime.observability.exporting import bind_failure
from agentos_runtime.observability.startup import Line, public_endpoint, startup_lines

DB_URL = "postgresql://agent:hunter2@db.internal:5432/agents"
KEY = "sk-test-0123456789abcdef"

CONFIG = """
models:
  - id: gpt
    model: gpt-4o-mini
  - id: local
    base_url: http://127.0.0.1:8000/v1
    api_key_env: LOCAL_KEY
  - id: keyless
    base_url: http://[::1]:11434/v1
    api_key_env: null
databases:
  - {id: main, type: postgres, db_schema: agents}
  - {id: cache, type: redis, url_env: CACHE_URL}
  - {id: files, type: sqlite}
agents:
  - {id: a, model: gpt}
  - {id: b, model: local}
teams:
  - {id: t, model: gpt, members: [a, b]}
"""


def lines_for(config_text: str, environ: dict[str, str], databases: list[DatabaseConfig] | None = None) -> list[Line]:
    config = parse_config_text(config_text)
    declared = list(config.databases) if databases is None else databases
    return startup_lines("conf/agentos.yaml", config, declared, environ, data_dir=Path("/var/data"))


def texts(lines: list[Line]) -> list[str]:
    return [line.text for line in lines]


def test_the_config_line_names_the_file_and_counts_the_components() -> None:
    first = lines_for(CONFIG, {})[0]
    assert first.text == "config conf/agentos.yaml: 2 agents, 1 team, 0 workflows"


def test_databases_are_named_by_id_kind_and_url_variable_never_by_url() -> None:
    lines = lines_for(CONFIG, {"DATABASE_URL": DB_URL})
    assert texts(lines)[1:4] == [
        "database main: postgres, schema agents, URL from DATABASE_URL (set)",
        "database cache: redis, key prefix agno, URL from CACHE_URL (NOT SET)",
        "database files: sqlite file /var/data/files.db",
    ]
    assert [line.level for line in lines[1:4]] == [logging.INFO, logging.WARNING, logging.INFO]
    assert lines[1].fields == {"db_id": "main", "db_type": "postgres", "url_env": "DATABASE_URL", "url_set": True}
    assert not any("hunter2" in repr(line) or "db.internal" in repr(line) for line in lines)


def test_without_a_declared_database_the_embedded_default_says_so() -> None:
    default = DatabaseConfig(id="agentos-db", type="sqlite", path="/var/data/agentos.db")
    lines = lines_for("models: [{id: m}]\nagents: [{id: a}]\n", {}, [default])
    assert lines[1].text == (
        "database agentos-db: sqlite file /var/data/agentos.db (no database declared: the embedded default)"
    )


def test_models_say_their_endpoint_and_whether_their_key_is_set_never_the_key() -> None:
    lines = lines_for(CONFIG, {"OPENAI_API_KEY": KEY, "DATABASE_URL": DB_URL})
    assert texts(lines)[4:] == [
        "model gpt: gpt-4o-mini at https://api.openai.com/v1, key from OPENAI_API_KEY (set)",
        "model local: local at http://127.0.0.1:8000/v1, key from LOCAL_KEY (not set: called without a key)",
        "model keyless: keyless at http://[::1]:11434/v1, no key (api_key_env is null)",
    ]
    assert [line.fields["key_set"] for line in lines[4:]] == [True, False, False]
    assert not any(KEY in repr(line) for line in lines)


def test_a_key_no_header_can_carry_is_a_warning_saying_where_and_a_trailing_newline_is_not() -> None:
    broken = lines_for(CONFIG, {"OPENAI_API_KEY": f"{KEY[:5]}\x00{KEY[5:]}", "DATABASE_URL": DB_URL})
    [gpt] = [line for line in broken if line.text.startswith("model gpt:")]
    assert gpt.level == logging.WARNING and gpt.text == (
        "model gpt: gpt-4o-mini at https://api.openai.com/v1, key from OPENAI_API_KEY"
        " (set, but it holds a control character at position 6: every request will fail)"
    )
    assert not any(KEY[5:] in repr(line) for line in broken)
    newline = lines_for(CONFIG, {"OPENAI_API_KEY": KEY + "\n", "DATABASE_URL": DB_URL})
    [gpt] = [line for line in newline if line.text.startswith("model gpt:")]
    assert gpt.level == logging.INFO and gpt.text.endswith("key from OPENAI_API_KEY (set)")


def test_openai_without_a_key_is_a_warning_and_openai_base_url_moves_the_endpoint() -> None:
    [gpt] = [line for line in lines_for(CONFIG, {}) if line.text.startswith("model gpt:")]
    assert gpt.level == logging.WARNING and gpt.text.endswith(
        "(NOT SET): OpenAI refuses requests without a key; set OPENAI_API_KEY, or point base_url at a local server"
    )
    moved = lines_for(CONFIG, {"OPENAI_BASE_URL": "http://ops:pa55word@vllm:8000/v1?token=abc"})
    [gpt] = [line for line in moved if line.text.startswith("model gpt:")]
    assert (
        gpt.level == logging.INFO
        and gpt.text
        == "model gpt: gpt-4o-mini at http://vllm:8000/v1, key from OPENAI_API_KEY (not set: called without a key)"
    )
    assert not any("pa55word" in repr(line) or "token" in repr(line) for line in moved)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@api.example.com/v1?key=1#x", "https://api.example.com/v1"),
        ("http://[fe80::1]:8000/v1", "http://[fe80::1]:8000/v1"),
        ("http://host:notaport/v1", "http://host/v1"),
    ],
)
def test_an_endpoint_is_logged_without_credentials_or_query(url: str, shown: str) -> None:
    assert public_endpoint(url) == shown


def test_a_metrics_port_in_use_is_one_line_saying_what_to_set() -> None:
    in_use = bind_failure("127.0.0.1", 9464, OSError(98, "Address already in use"))
    assert in_use == (
        "metrics are not served (port 9464 on 127.0.0.1 is already in use); the API serves on. "
        "Set AGENTOS_METRICS_PORT to a free port, or 0 to turn metrics off"
    )
    denied = bind_failure("0.0.0.0", 80, PermissionError(13, "Permission denied"))
    assert "(cannot listen on 0.0.0.0:80: Permission denied)" in denied and "\n" not in denied


def auth_line(mode: str, environ: dict[str, str]) -> Line:
    config = parse_config_text("models: [{id: m}]\nagents: [{id: a}]\n")
    return startup_lines("c.yaml", config, [], environ, data_dir=Path("/var/data"), auth_mode=mode)[-1]


def test_the_last_line_says_how_clients_are_authenticated_never_the_key() -> None:
    keyed = auth_line("security_key", {"OS_SECURITY_KEY": KEY})
    assert (keyed.level, keyed.fields) == (logging.INFO, {"auth_mode": "security_key"})
    assert keyed.text.startswith("auth: security key from OS_SECURITY_KEY") and KEY not in repr(keyed)
    jwt = auth_line("jwt", {"JWT_JWKS_FILE": "/etc/jwks/keys.json"})
    assert jwt.text == "auth: JWT bearer tokens, verified with JWT_JWKS_FILE" and "/etc/jwks" not in repr(jwt)
    open_door = auth_line("none", {})
    assert open_door.level == logging.INFO and open_door.text.startswith(
        "auth: none: every client may call every route"
    )


def test_a_security_key_variable_set_but_empty_warns_that_auth_is_off() -> None:
    line = auth_line("none", {"OS_SECURITY_KEY": ""})
    assert line.level == logging.WARNING
    assert line.text.startswith("auth: none: OS_SECURITY_KEY set but empty, which turns auth off")
    assert line.fields["empty_env"] == ["OS_SECURITY_KEY"]


def test_without_an_auth_mode_no_auth_line_is_said() -> None:
    assert not any(line.text.startswith("auth:") for line in lines_for(CONFIG, {}))
