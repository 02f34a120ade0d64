"""``agentos serve`` as a process: config problems before binding, health, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from agentos_runtime.config import ConfigError
from agentos_runtime.serving import load_runtime_config

from tests.support.databases import drop_postgres_schema, postgres_url, unique_name
from tests.support.ports import free_port

DEADLINE = 20.0

GOOD_CONFIG = """
os_id: served-os
models:
  - id: fake
    model: fake-model
    base_url: http://127.0.0.1:9/v1
    api_key_env: null
agents:
  - id: assistant
    tools: [calculator]
"""

MISSPELT_CONFIG = """
models:
  - id: fake
    api_key_env: null
agents:
  - id: assistant
    colour: blue
  - id: helper
    instructionz: [be kind]
"""

BROKEN_REFERENCES = """
models:
  - id: fake
    api_key_env: null
agents:
  - id: assistant
    model: gpt-5
  - id: helper
    tools: [calculator, teleport]
"""


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def serve_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "agentos_operator.cli", "serve", "--config", str(config), *args]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_OS_", "AGENTOS_", "OS_SECURITY"))}
    return {**env, **extra}


@contextmanager
def running(command: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=DEADLINE)


def wait_for_health(port: int, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited with {process.returncode}: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the server did not answer /health in time")


def wait_for_ready(port: int) -> httpx.Response:
    """Poll /ready as a readiness probe does: a fresh process may answer 503 while its model clients are built."""
    deadline = time.monotonic() + DEADLINE
    answer = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=DEADLINE)
    while answer.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=DEADLINE)
    return answer


def run_serve(config_text: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yaml"
    config.write_text(config_text)
    return subprocess.run(
        serve_command(config, *args), env=clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE
    )


def test_a_bad_config_exits_before_binding_and_prints_every_problem_with_its_path(tmp_path: Path) -> None:
    port = free_port()
    result = run_serve(MISSPELT_CONFIG, tmp_path, "--port", str(port))
    assert result.returncode == 2
    assert "agents[0].colour: unknown field" in result.stderr
    assert "agents[1].instructionz: unknown field" in result.stderr
    assert "Uvicorn running" not in result.stderr
    assert port_is_free(port)


def test_reference_and_tool_problems_are_reported_together(tmp_path: Path) -> None:
    port = free_port()
    result = run_serve(BROKEN_REFERENCES, tmp_path, "--port", str(port))
    assert result.returncode == 2
    assert "2 problem(s)" in result.stderr
    assert "agents[0].model: unknown model 'gpt-5'" in result.stderr
    assert "agents[1].tools[1]: unknown tool 'teleport'" in result.stderr
    assert port_is_free(port)


def test_a_schema_problem_does_not_hide_reference_or_tool_problems(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(BROKEN_REFERENCES + "    colour: blue\n")
    with pytest.raises(ConfigError) as caught:
        load_runtime_config(config)
    assert [str(problem) for problem in caught.value.problems] == [
        "agents[1].colour: unknown field: remove it or check its spelling",
        "agents[0].model: unknown model 'gpt-5': declare it in models or fix the id",
        "agents[1].tools[1]: unknown tool 'teleport': known tools are calculator, current_time, http_get",
    ]


def test_an_unknown_tool_name_is_a_config_problem_with_its_path(tmp_path: Path) -> None:
    result = run_serve(GOOD_CONFIG.replace("[calculator]", "[calculator, teleport]"), tmp_path)
    assert result.returncode == 2
    assert "agents[0].tools[1]: unknown tool 'teleport'" in result.stderr


@pytest.mark.parametrize("host", ["999.1.1.1", "no such host.invalid"])
def test_a_host_that_names_no_address_is_reported_naming_the_setting_before_starting(tmp_path: Path, host: str) -> None:
    port = free_port()
    result = run_serve(GOOD_CONFIG, tmp_path, "--host", host, "--port", str(port))
    assert result.returncode == 2
    assert f"AGENT_OS_HOST (or --host) {host!r} names no address to listen on" in result.stderr
    assert "Errno" not in result.stderr and "metrics are not served" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_two_databases_that_are_one_sqlite_file_once_resolved_are_refused_before_starting(tmp_path: Path) -> None:
    config = GOOD_CONFIG + "databases:\n  - id: sessions\n    type: sqlite\n  - id: memory\n    type: sqlite\n"
    config += "    path: data/../data/sessions.db\n"  # the first one's default file, written another way
    port = free_port()
    result = run_serve(config, tmp_path, "--port", str(port), "--data-dir", "data")

    assert result.returncode == 2
    assert (
        "databases[1] ('memory') and databases[0] ('sessions') are both the SQLite file "
        f"{(tmp_path / 'data' / 'sessions.db').resolve()}: give each database a path of its own"
    ) in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was opened


@pytest.mark.parametrize(
    ("kind", "urls", "refusal"),
    [
        (
            "postgres",
            (
                "postgresql://anauser:pw-secret@DB.example.invalid:6543/orders",
                "postgres://bobuser:pw-other@db.example.invalid:6543/orders",
            ),
            "databases[1] ('audit') and databases[0] ('main') are one PostgreSQL schema: AUDIT_URL and MAIN_URL hold"
            " the same server and database, and both use schema 'ai': give each database a schema of its own",
        ),
        (
            "redis",
            (
                "redis://anauser:pw-secret@DB.example.invalid:6543/0",
                "redis://bobuser:pw-other@db.example.invalid:6543?db=0",
            ),
            "databases[1] ('audit') and databases[0] ('main') share Redis keys: AUDIT_URL and MAIN_URL hold the same"
            " server and Redis database number, and both use key prefix 'agno': give each database a key prefix",
        ),
    ],
)
def test_two_url_variables_holding_one_store_are_refused_before_starting_without_showing_either(
    tmp_path: Path, kind: str, urls: tuple[str, str], refusal: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        GOOD_CONFIG + f"databases:\n  - id: main\n    type: {kind}\n    url_env: MAIN_URL\n"
        f"  - id: audit\n    type: {kind}\n    url_env: AUDIT_URL\n"
    )
    env = clean_env(MAIN_URL=urls[0], AUDIT_URL=urls[1])

    result = subprocess.run(
        serve_command(config, "--port", str(free_port()), "--data-dir", "data"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )

    assert result.returncode == 2
    assert refusal in result.stderr
    output = result.stdout + result.stderr
    for part in ("anauser", "bobuser", "pw-secret", "pw-other", "example.invalid", "6543", "orders"):
        assert part not in output.lower()
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_a_missing_config_file_is_reported(tmp_path: Path) -> None:
    result = subprocess.run(
        serve_command(tmp_path / "nope.yaml"), env=clean_env(), cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2 and "cannot read config file" in result.stderr


def test_a_good_config_serves_health_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "good.yaml"
    config.write_text(GOOD_CONFIG)
    port = free_port()
    data_dir = tmp_path / "state"
    with running(
        serve_command(config, "--port", str(port), "--data-dir", str(data_dir)), clean_env(), tmp_path
    ) as process:
        response = wait_for_health(port, process)
        assert response.status_code == 200 and response.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/").json()["id"] == "served-os"
        assert (data_dir / "agentos.db").is_file()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE) == 0
    assert port_is_free(port)


def test_host_port_and_data_dir_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "good.yaml"
    config.write_text(GOOD_CONFIG)
    port = free_port()
    env = clean_env(AGENT_OS_HOST="127.0.0.1", AGENT_OS_PORT=str(port), AGENTOS_DATA_DIR=str(tmp_path / "env-data"))
    with running(serve_command(config), env, tmp_path) as process:
        assert wait_for_health(port, process).status_code == 200
        assert (tmp_path / "env-data" / "agentos.db").is_file()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE) == 0


def test_without_a_data_dir_the_embedded_database_goes_to_dot_data(tmp_path: Path) -> None:
    config = tmp_path / "good.yaml"
    config.write_text(GOOD_CONFIG)
    port = free_port()
    with running(serve_command(config, "--port", str(port)), clean_env(), tmp_path) as process:
        assert wait_for_health(port, process).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE) == 0
    assert (tmp_path / "data" / "agentos.db").is_file()


def test_a_database_that_cannot_be_reached_leaves_the_runtime_up_but_not_ready(tmp_path: Path) -> None:
    """No crash loop while the database is down: live, not ready, and no URL in any answer."""
    config = tmp_path / "pg.yaml"
    config.write_text(GOOD_CONFIG + "databases:\n  - {id: main, type: postgres}\n")
    port = free_port()
    env = clean_env(DATABASE_URL=f"postgresql://agent:hunter2@127.0.0.1:{free_port()}/nowhere")
    with running(serve_command(config, "--port", str(port)), env, tmp_path) as process:
        assert wait_for_health(port, process).status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=DEADLINE)
        assert ready.status_code == 503 and "hunter2" not in ready.text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE) == 0
        output = (process.stdout.read() if process.stdout else "") + (process.stderr.read() if process.stderr else "")
    assert "hunter2" not in output and "unavailable" in output


def test_a_first_start_on_an_empty_postgresql_schema_creates_its_tables_and_is_ready(tmp_path: Path) -> None:
    schema = unique_name("served")
    config = tmp_path / "pg.yaml"
    config.write_text(GOOD_CONFIG + f"databases:\n  - {{id: main, type: postgres, db_schema: {schema}}}\n")
    port = free_port()
    try:
        with running(serve_command(config, "--port", str(port)), clean_env(DATABASE_URL=postgres_url()), tmp_path) as p:
            assert wait_for_health(port, p).status_code == 200
            ready = wait_for_ready(port)
            assert ready.status_code == 200, ready.text
            created = httpx.post(f"http://127.0.0.1:{port}/sessions", json={"agent_id": "assistant"}, timeout=DEADLINE)
            assert created.status_code == 201, created.text
    finally:
        asyncio.run(drop_postgres_schema(schema))


@pytest.mark.parametrize("value", ["not-a-port", "70000"])
def test_an_invalid_port_in_the_environment_is_reported(tmp_path: Path, value: str) -> None:
    config = tmp_path / "good.yaml"
    config.write_text(GOOD_CONFIG)
    result = subprocess.run(
        serve_command(config), env=clean_env(AGENT_OS_PORT=value), cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2 and "AGENT_OS_PORT: " in result.stderr


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "runtime"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_runtime_example_passes_the_serve_time_checks(name: str) -> None:
    from agentos_runtime.serving import load_runtime_config

    config = load_runtime_config(EXAMPLES / name)
    assert config.agents


def test_the_readme_quickstart_serves_its_agent_and_knowledge_with_nothing_installed(tmp_path: Path) -> None:
    """The README's first command, with the OpenAI endpoint swapped for the local fake: the agent
    is served and the docs the knowledge base names are embedded into the embedded SQLite."""
    from tests.support.fake_openai import serve_fake_openai

    port = free_port()
    command = serve_command(EXAMPLES / "quickstart.yaml", "--port", str(port))
    with serve_fake_openai() as fake:
        env = clean_env(
            OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="test-key", AGENTOS_DATA_DIR=str(tmp_path / "data")
        )
        with running(command, env, EXAMPLES.parents[1]) as process:
            assert wait_for_health(port, process).status_code == 200
            agent = httpx.get(f"http://127.0.0.1:{port}/agents/assistant").json()
            assert agent["name"] == "Assistant"
            assert [t["name"] for t in agent["tools"]["tools"]] == [
                "current_time",
                "calculator",
                "search_knowledge_base",
            ]
            config = httpx.get(f"http://127.0.0.1:{port}/config").json()
            assert config["os_id"] == "quickstart" and config["databases"] == ["agentos-db"]
            assert [k["id"] for k in config["knowledge"]["knowledge_instances"]] == ["docs"]
            contents = wait_for_contents(port)
            assert [(c["name"], c["status"]) for c in contents] == [("Knowledge guide", "completed")]
            found = httpx.post(f"http://127.0.0.1:{port}/knowledge/search", json={"query": "ConfigMap sources"})
            assert found.status_code == 200 and found.json()["data"], found.text
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=DEADLINE) == 0
    assert (tmp_path / "data" / "agentos.db").is_file() and (tmp_path / "data" / "agentos.knowledge.db").is_file()


def wait_for_contents(port: int) -> list[dict[str, object]]:
    """The knowledge contents once none is processing (sources load in the background)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        contents = httpx.get(f"http://127.0.0.1:{port}/knowledge/content", timeout=DEADLINE).json()["data"]
        if (contents and all(c["status"] != "processing" for c in contents)) or time.monotonic() > deadline:
            return list(contents)
        time.sleep(0.1)


def test_requests_do_not_write_a_log_line_each_at_the_default_level(tmp_path: Path) -> None:
    """A log line per request would cost CPU and, with an unread stderr pipe, block the server."""
    from tests.support.fake_openai import Reply, serve_fake_openai

    with serve_fake_openai() as fake:
        fake.app.default = Reply.say("hello")
        config = tmp_path / "config.yaml"
        config.write_text(GOOD_CONFIG.replace("http://127.0.0.1:9/v1", fake.base_url))
        port = free_port()
        with running(serve_command(config, "--port", str(port)), clean_env(), tmp_path) as process:
            wait_for_health(port, process)
            for stream in ("true", "false"):
                for _ in range(3):
                    form = {"message": "hi", "stream": stream}
                    assert httpx.post(f"http://127.0.0.1:{port}/agents/assistant/runs", data=form).status_code == 200
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=DEADLINE)
    assert "HTTP Request" not in stderr and "chat/completions" not in stderr


def test_start_up_says_config_storage_and_models_and_a_busy_metrics_port_is_one_warning(tmp_path: Path) -> None:
    config = tmp_path / "good.yaml"
    config.write_text(GOOD_CONFIG.replace("api_key_env: null", "api_key_env: FAKE_MODEL_KEY"))
    port = free_port()
    key = "sk-test-start-up-0123456789"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        metrics_port = busy.getsockname()[1]
        env = clean_env(AGENTOS_METRICS_PORT=str(metrics_port), FAKE_MODEL_KEY=key)
        with running(serve_command(config, "--port", str(port)), env, tmp_path) as process:
            assert wait_for_health(port, process).status_code == 200
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0
    lines = stderr.splitlines()
    assert f"INFO:     agentos_runtime.startup: config {config}: 1 agent, 0 teams, 0 workflows" in lines
    data = tmp_path / "data" / "agentos.db"
    assert any(
        line.endswith(f"database agentos-db: sqlite file {data} (no database declared: the embedded default)")
        for line in lines
    )
    assert any(
        line.endswith("model fake: fake-model at http://127.0.0.1:9/v1, key from FAKE_MODEL_KEY (set)")
        for line in lines
    )
    assert any("agentos_runtime.startup: auth: none: every client may call every route" in line for line in lines)
    [warning] = [line for line in lines if "metrics" in line]
    assert warning.startswith("WARNING:") and f"port {metrics_port} on 127.0.0.1 is already in use" in warning
    assert "Traceback" not in stderr and key not in stderr


@pytest.mark.parametrize("grace", ["0", "2"])
def test_a_run_still_streaming_when_the_grace_after_sigterm_ends_is_cancelled_recorded_and_its_stream_ends(
    tmp_path: Path, grace: str
) -> None:
    from tests.support.fake_openai import Reply, serve_fake_openai

    with serve_fake_openai() as fake:
        fake.app.default = Reply.say("word " * 400, chunks=400, delay=0.25)  # 100 s of answer
        config = tmp_path / "config.yaml"
        config.write_text(GOOD_CONFIG.replace("http://127.0.0.1:9/v1", fake.base_url))
        port = free_port()
        env = clean_env(AGENTOS_RUN_GRACE_SECONDS=grace)
        with running(serve_command(config, "--port", str(port)), env, tmp_path) as process:
            wait_for_health(port, process)
            form = {"message": "hi", "stream": "true", "session_id": "long"}
            events: list[str] = []
            with httpx.stream("POST", f"http://127.0.0.1:{port}/agents/assistant/runs", data=form) as answer:
                for line in answer.iter_lines():
                    if line.startswith("event: "):
                        events.append(line.removeprefix("event: "))
                        if events[-1] == "RunContent" and events.count("RunContent") == 1:
                            stopped = time.monotonic()
                            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=DEADLINE)
            took = time.monotonic() - stopped

    assert events[-1] == "RunCancelled"
    assert process.returncode == 0
    assert float(grace) <= took < float(grace) + 8, "ended when its grace was over, not when uvicorn gave up"
    assert "stopping: cancelled 1 run(s) still going" in stderr
    assert "Traceback" not in stderr and "Exception in ASGI application" not in stderr
    with sqlite3.connect(tmp_path / "data" / "agentos.db") as database:
        assert database.execute("select status from agno_runs where session_id = 'long'").fetchall() == [("CANCELLED",)]


def test_a_background_run_that_ends_within_the_grace_after_sigterm_is_stored_completed(tmp_path: Path) -> None:
    from tests.support.fake_openai import Reply, serve_fake_openai

    with serve_fake_openai() as fake:
        fake.app.default = Reply.say("word " * 8, chunks=8, delay=0.25)  # 2 s of answer, no client waiting
        config = tmp_path / "config.yaml"
        config.write_text(GOOD_CONFIG.replace("http://127.0.0.1:9/v1", fake.base_url))
        port = free_port()
        with running(
            serve_command(config, "--port", str(port)), clean_env(AGENTOS_RUN_GRACE_SECONDS="20"), tmp_path
        ) as process:
            wait_for_health(port, process)
            form = {"message": "hi", "stream": "false", "background": "true", "session_id": "bg"}
            started = httpx.post(f"http://127.0.0.1:{port}/agents/assistant/runs", data=form, timeout=DEADLINE)
            assert started.status_code == 202
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=DEADLINE)

    assert process.returncode == 0
    assert "Traceback" not in stderr
    with sqlite3.connect(tmp_path / "data" / "agentos.db") as database:
        assert database.execute("select status from agno_runs where session_id = 'bg'").fetchall() == [("COMPLETED",)]


def test_an_agentosconfig_resource_given_as_the_runtime_config_is_told_apart(tmp_path: Path) -> None:
    # It listed apiVersion, kind, metadata and spec as four unknown fields.
    config = tmp_path / "config.yaml"
    config.write_text((EXAMPLES.parent / "minimal-sqlite.yaml").read_text())
    with pytest.raises(ConfigError) as caught:
        load_runtime_config(config)
    assert [str(problem) for problem in caught.value.problems] == [
        "this is a Kubernetes AgentOSConfig resource, not a runtime config: the operator serves it; to run it here,"
        " take config.yaml from what `agentos render` prints (its ConfigMap)"
    ]


def test_ctrl_c_shuts_down_gracefully_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "good.yaml"
    config.write_text(GOOD_CONFIG)
    port = free_port()
    with running(serve_command(config, "--port", str(port)), clean_env(), tmp_path) as process:
        assert wait_for_health(port, process).status_code == 200
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=DEADLINE)
    assert process.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert port_is_free(port)
