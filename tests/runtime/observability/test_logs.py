"""Logs: one JSON object per line with the run's ids, no secret and no prompt or answer at INFO.

The last test runs ``agentos serve`` as a process with ``AGENTOS_LOG_FORMAT=json`` and the
metrics port set, and reads both its stderr and its metrics port.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from agentos_runtime.config.loading import parse_config
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.logcut import CUT, cut
from agentos_runtime.observability.logs import (
    MIN_SECRET_LENGTH,
    REDACTED,
    DriverRedaction,
    JsonFormatter,
    LibraryThrottle,
    Redactor,
    TextFormatter,
    configure_logging,
    secret_values,
)
from agentos_runtime.settings import Settings
from agentos_runtime.storage.sql.postgres_executor import PostgresExecutor

from tests.runtime.api.harness import agent_config
from tests.runtime.observability.apps import observed_app
from tests.runtime.test_serving import clean_env, running, serve_command, wait_for_health
from tests.support.fake_openai import FakeOpenAIServer, Reply
from tests.support.ports import free_port

SECRET = "sk-test-0123456789abcdef"
MODEL_KEY = "sk-model-key-9876543210"
PROMPT = "Tell me about the purple elephant"
ANSWER = "Purple elephants are rare"


def record(message: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("broken")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("agentos_runtime.test", logging.INFO, __file__, 1, message, args, exc_info)
    for key, item in extra.items():
        setattr(made, key, item)
    return made


def test_a_json_line_has_time_level_logger_message_and_the_extra_fields() -> None:
    line = JsonFormatter().format(record("run %s ended", "r-1", run_id="r-1", session_id="s-1"))
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["logger"] == "agentos_runtime.test"
    assert entry["message"] == "run r-1 ended"
    assert entry["run_id"] == "r-1" and entry["session_id"] == "s-1"
    assert entry["time"].endswith("+00:00")
    assert "\n" not in line


def test_an_exception_travels_in_its_own_field() -> None:
    entry = json.loads(JsonFormatter().format(record("failed", exc=True)))
    assert entry["exception"].startswith("Traceback") and "ValueError: broken" in entry["exception"]


def test_secrets_are_redacted_in_both_formats_even_when_json_escapes_them() -> None:
    tricky = 'pass"word\\with-escapes'
    redact = Redactor([SECRET, tricky, None, "short"])
    json_line = JsonFormatter(redact).format(record("key %s and %s", SECRET, tricky, url=f"postgresql://u:{tricky}@h"))
    text_line = TextFormatter(redact).format(record("key %s", SECRET))
    assert SECRET not in json_line and "pass" not in json_line and json_line.count("***") == 3
    assert text_line == "INFO:     agentos_runtime.test: key ***"
    assert "short" in TextFormatter(redact).format(record("short words stay"))


FORGED = "http://x/\nINFO:     agentos_runtime.runs: run r-0 of agent admin ended completed\r\x1b[2J\x00\u2028\x9b"


def test_a_text_line_quoting_a_newline_or_an_escape_sequence_stays_one_line_of_plain_characters() -> None:
    line = TextFormatter().format(record("tool http_get failed: could not fetch %s", FORGED))
    assert line.splitlines() == [line] and line.isprintable()
    assert line.startswith("INFO:     agentos_runtime.test: tool http_get failed: could not fetch http://x/\\n")
    assert "\\r\\x1b[2J\\x00\\u2028\\x9b" in line, "written as escapes, readable"


def test_a_traceback_keeps_its_lines_after_an_escaped_message() -> None:
    line = TextFormatter().format(record("failed %s", "a\nb", exc=True))
    first, *traceback = line.splitlines()
    assert first == "INFO:     agentos_runtime.test: failed a\\nb"
    assert traceback[0].startswith("Traceback") and traceback[-1] == "ValueError: broken"


def test_a_json_line_escapes_what_json_allows_raw_but_a_terminal_or_a_line_reader_acts_on() -> None:
    line = JsonFormatter().format(record("could not fetch %s", FORGED, url=FORGED))
    assert line.splitlines() == [line] and line.isprintable()
    entry = json.loads(line)
    assert entry["url"] == FORGED and entry["message"] == f"could not fetch {FORGED}"


def test_a_secret_whose_variable_ends_with_a_newline_is_redacted_as_it_is_used_without_it() -> None:
    redact = Redactor([f"{MODEL_KEY}\n", f"  {SECRET}\r\n"])
    line = TextFormatter(redact).format(record("the endpoint said: bad key %s, also %s", MODEL_KEY, SECRET))
    assert MODEL_KEY not in line and SECRET not in line and line.endswith("bad key ***, also ***")


@pytest.fixture
def run_log() -> Iterator[io.StringIO]:
    """The runtime's INFO records, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("agentos_runtime")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def test_each_run_is_logged_with_its_ids_and_numbers_but_not_its_text(
    run_log: io.StringIO, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.say(ANSWER, usage=(12, 4)))
    async with observed_app("sqlite", agent_config(fake_openai.base_url), tmp_path) as app:
        form = {"message": PROMPT, "stream": "false", "session_id": "s-42", "user_id": "u-7"}
        output = (await app.client.post("/agents/assistant/runs", data=form)).json()
    lines = [json.loads(line) for line in run_log.getvalue().splitlines()]
    run_lines = [line for line in lines if line.get("run_id") == output["run_id"]]
    assert len(run_lines) == 1
    entry = run_lines[0]
    assert entry["session_id"] == "s-42" and entry["component"] == "agent" and entry["component_id"] == "assistant"
    assert entry["status"] == "completed" and entry["input_tokens"] == 12 and entry["output_tokens"] == 4
    assert entry["level"] == "INFO" and isinstance(entry["duration"], float)
    assert PROMPT not in run_log.getvalue() and ANSWER not in run_log.getvalue()


async def test_runs_are_logged_when_metrics_are_off(
    run_log: io.StringIO, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.say(ANSWER, usage=(7, 3)))
    async with observed_app("sqlite", agent_config(fake_openai.base_url), tmp_path, metrics_port=0) as app:
        assert app.telemetry is None
        output = (await app.client.post("/agents/assistant/runs", data={"message": PROMPT, "stream": "false"})).json()
    [entry] = [json.loads(line) for line in run_log.getvalue().splitlines() if output["run_id"] in line]
    assert entry["status"] == "completed" and entry["input_tokens"] == 7 and entry["output_tokens"] == 3
    assert entry["message"].startswith(f"run {output['run_id']} of agent assistant ended completed in ")


@pytest.mark.parametrize("metrics_port", [0, 9464], ids=["metrics-off", "metrics-on"])
async def test_a_failed_run_is_logged_at_warning_with_why_it_failed(
    run_log: io.StringIO, fake_openai: FakeOpenAIServer, tmp_path: Path, metrics_port: int
) -> None:
    fake_openai.script(Reply.fail(400, "This model's maximum context length is 8192 tokens", code="context_length"))
    config = agent_config(fake_openai.base_url)
    async with observed_app("sqlite", config, tmp_path, metrics_port=metrics_port) as app:
        output = (await app.client.post("/agents/assistant/runs", data={"message": PROMPT, "stream": "false"})).json()
        [run_id] = [
            run["run_id"] for run in (await app.client.get("/sessions/" + output["session_id"] + "/runs")).json()
        ]
    [entry] = [json.loads(line) for line in run_log.getvalue().splitlines() if run_id in line]
    assert entry["level"] == "WARNING" and entry["status"] == "error"
    assert entry["error_type"] and entry["error_type"] != "Error"
    assert "maximum context length is 8192 tokens" in entry["error"]
    assert entry["message"].endswith(f"{entry['error_type']}: {entry['error']}")
    assert PROMPT not in run_log.getvalue()


def test_configure_logging_keeps_other_libraries_at_warning() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("agentos_runtime").level)
    try:
        handler = configure_logging("info", "json", secrets=[SECRET])
        assert root.handlers == [handler] and isinstance(handler.formatter, JsonFormatter)
        assert root.level == logging.WARNING and logging.getLogger("agentos_runtime").level == logging.INFO
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("agentos_runtime").setLevel(saved[2])


def test_agentos_serve_logs_json_lines_and_serves_metrics_on_its_port(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    # The second run fails with an error that quotes the model's key: its line says why, key redacted.
    fake_openai.script(Reply.say(ANSWER), Reply.fail(400, f"Invalid value for api key {MODEL_KEY}"))
    config = tmp_path / "config.yaml"
    config.write_text(agent_config(fake_openai.base_url).replace("api_key_env: null", "api_key_env: FAKE_MODEL_KEY"))
    port, metrics_port = free_port(), free_port()
    env = clean_env(
        OS_SECURITY_KEY=SECRET,
        FAKE_MODEL_KEY=MODEL_KEY,
        AGENTOS_LOG_FORMAT="json",
        AGENTOS_METRICS_PORT=str(metrics_port),
        AGENT_OS_PORT=str(port),
    )
    headers = {"Authorization": f"Bearer {SECRET}"}
    with running(serve_command(config, "--data-dir", str(tmp_path / "data")), env, tmp_path) as process:
        assert wait_for_health(port, process).status_code == 200
        runs = [
            httpx.post(
                f"http://127.0.0.1:{port}/agents/assistant/runs",
                data={"message": PROMPT, "stream": "false", "session_id": "s-logged"},
                headers=headers,
                timeout=15,
            )
            for _ in range(2)
        ]
        assert runs[0].status_code == 200
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 401  # AgentOS's own route
        stored = httpx.get(f"http://127.0.0.1:{port}/sessions/s-logged/runs", headers=headers, timeout=5).json()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        stderr = process.stderr.read() if process.stderr else ""
    assert scraped.status_code == 200
    assert 'agentos_runs_total{component="agent",id="assistant",status="completed"} 1' in scraped.text
    entries = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert any(entry.get("run_id") == runs[0].json()["run_id"] for entry in entries)
    [failed_id] = [run["run_id"] for run in stored if run["status"] == "ERROR"]
    [failed] = [entry for entry in entries if entry.get("run_id") == failed_id]
    assert failed["level"] == "WARNING" and failed["status"] == "error"
    assert "Invalid value for api key ***" in failed["error"] and failed["message"].endswith(failed["error"])
    assert any(entry["logger"] == "agentos_runtime.startup" for entry in entries)
    assert any(entry["logger"].startswith("uvicorn") for entry in entries)  # uvicorn's own lines are JSON too
    assert not any("color_message" in entry for entry in entries), "no terminal colour codes in a JSON line"
    assert SECRET not in stderr and MODEL_KEY not in stderr and PROMPT not in stderr and ANSWER not in stderr


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def library_record(name: str, message: str = "Failed to parse JSONRPC message from server") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, None)


def test_a_library_logging_a_line_per_line_of_output_is_held_to_a_few_a_minute_and_says_how_many_it_held() -> None:
    clock = Clock()
    throttle = LibraryThrottle(limit=3, window=60, clock=clock)

    passed = [throttle.filter(library_record("mcp.client.stdio")) for _ in range(1000)]
    own = [throttle.filter(library_record("agentos_runtime.mcp", "a line of ours")) for _ in range(50)]
    other = throttle.filter(library_record("httpx"))
    clock.now = 60.0
    next_one = library_record("mcp.client.stdio")

    assert passed.count(True) == 3 and passed[:3] == [True, True, True]
    assert all(own) and other
    assert throttle.filter(next_one)
    assert next_one.getMessage() == (
        "Failed to parse JSONRPC message from server (997 more from mcp.client.stdio held back before this one)"
    )


def test_configured_logging_holds_a_flooding_library_back(capsys: pytest.CaptureFixture[str]) -> None:
    handler = configure_logging("info", "text")
    try:
        for index in range(500):
            logging.getLogger("mcp.client.stdio").error("line %d is not JSON-RPC", index)
    finally:
        logging.getLogger().removeHandler(handler)

    lines = [line for line in capsys.readouterr().err.splitlines() if "mcp.client.stdio" in line]
    assert len(lines) == 10


async def test_the_postgresql_pools_own_warnings_say_which_database_but_not_where_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://app_owner:pw-0123456789@localhost:{port}/orders_db"
    handler = configure_logging("info", "text", locations=[url])
    executor = PostgresExecutor(url, db_id="orders")
    try:
        with pytest.raises(StorageUnavailable):
            await executor.fetch([])
    finally:
        await executor.close()
        logging.getLogger().removeHandler(handler)

    pool_lines = [line for line in capsys.readouterr().err.splitlines() if "psycopg.pool" in line]
    assert any("error connecting in 'agentos-orders'" in line for line in pool_lines)
    logged = "\n".join(pool_lines)
    for where in ("127.0.0.1", "localhost", str(port), "app_owner", "orders_db"):
        assert where not in logged


def test_other_libraries_records_keep_their_addresses() -> None:
    redaction = DriverRedaction(["postgresql://app@db.internal:5432/x"])
    served = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "Uvicorn running on %s", ("http://10.0.0.7:7777",), None
    )

    assert redaction.filter(served)
    assert served.getMessage() == "Uvicorn running on http://10.0.0.7:7777"


def test_every_variable_holding_a_key_or_url_the_config_names_is_redacted(tmp_path: Path) -> None:
    environ = {"MODEL_KEY": "model-key-value-1", "EMBED_KEY": "plain-embedder-key-2", "DB_URL": "sqlite:///x.db"}
    config = parse_config(
        {
            "models": [{"id": "m", "api_key_env": "MODEL_KEY"}],
            "databases": [{"id": "db", "type": "sqlite", "url_env": "DB_URL"}],
            "knowledge_bases": [{"id": "kb", "db": "db", "embedder": {"api_key_env": "EMBED_KEY"}}],
        }
    )

    redacted = secret_values(Settings(data_dir=tmp_path), config, environ)

    assert set(environ.values()) <= set(redacted), "an embedder key without a known prefix is a secret too"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_client_sending_garbage_requests_gets_a_few_lines_a_minute_in_either_format(
    log_format: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(agent_config(fake_openai.base_url))
    port = free_port()
    env = clean_env(AGENTOS_LOG_FORMAT=log_format, AGENTOS_METRICS_PORT="0", AGENT_OS_PORT=str(port))
    with running(serve_command(config, "--data-dir", str(tmp_path / "data")), env, tmp_path) as process:
        assert wait_for_health(port, process).status_code == 200
        for _ in range(50):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as garbage:
                garbage.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
                while garbage.recv(4096):  # until the server hangs up
                    pass
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        stderr = process.stderr.read() if process.stderr else ""
    invalid = [line for line in stderr.splitlines() if "Invalid HTTP request" in line]
    assert 1 <= len(invalid) <= 10, "uvicorn's lines go through the runtime's handler, held to ten a minute"


def test_a_secret_a_line_was_cut_through_before_it_was_logged_is_redacted_up_to_the_cut() -> None:
    secret = "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    line = cut("e" * 1_975 + " key=" + secret, 2_000)  # a stderr line longer than its limit
    assert line.endswith(secret[:20] + CUT)

    text = Redactor([secret])(f"MCP server local: {line}; and again: {line}")
    entry = json.loads(JsonFormatter(Redactor([secret])).format(record("said: %s", line)))

    assert secret[:MIN_SECRET_LENGTH] not in text and text.count(f" key={REDACTED}{CUT}") == 2
    assert entry["message"].endswith(f" key={REDACTED}{CUT}")
