"""Each ended run's log line, and why a failed run failed: read from the run as it is saved."""

from __future__ import annotations

import logging

import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.observability.run_log import MAX_REASON_CHARS, failure_reason, log_run
from agentos_runtime.observability.runtime_metrics import RuntimeMetrics
from agentos_runtime.observability.storage import observe_database
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import SessionRow


def failed(*events: dict[str, object], content: str | None = "the content") -> dict[str, object]:
    return {"run_id": "r-1", "agent_id": "assistant", "status": "ERROR", "content": content, "events": list(events)}


def test_a_completed_or_cancelled_run_has_no_failure_reason() -> None:
    assert failure_reason({"status": "COMPLETED", "events": [{"event": "RunCompleted"}]}) is None
    assert failure_reason({"status": "CANCELLED", "content": "Run r-1 was cancelled"}) is None


def test_an_agent_run_fails_with_its_run_error_event() -> None:
    run = failed(
        {"event": "RunStarted"},
        {"event": "RunError", "content": "model 'fake': rate limited", "error_type": "model_provider_error"},
    )
    assert failure_reason(run) == ("model_provider_error", "model 'fake': rate limited")


def test_a_team_run_fails_with_its_team_error_not_a_member_error() -> None:
    run = failed(
        {"event": "RunError", "content": "member failed", "error_type": "member_error"},
        {"event": "TeamRunError", "content": "the team failed", "error_type": "storage_unavailable"},
    )
    assert failure_reason(run) == ("storage_unavailable", "the team failed")


def test_a_workflow_error_carries_its_message_under_error() -> None:
    run = failed({"event": "WorkflowError", "error": "step 'draft' failed", "error_type": None}, content=None)
    assert failure_reason(run) == ("Error", "step 'draft' failed")


def test_without_an_error_event_the_content_is_the_reason() -> None:
    assert failure_reason(failed(content="the run failed")) == ("Error", "the run failed")
    assert failure_reason(failed(content=None)) == ("Error", "no reason was recorded")


def test_a_long_or_multi_line_reason_becomes_one_bounded_line() -> None:
    message = "Traceback line one\n  line two\n" + "x" * 1000
    [_type, reason] = failure_reason(failed({"event": "RunError", "content": message, "error_type": "bug"})) or ()
    assert "\n" not in reason and reason.startswith("Traceback line one line two x")
    assert len(reason) == MAX_REASON_CHARS and reason.endswith("…")


def test_log_run_writes_nothing_when_its_level_is_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="agentos_runtime.runs"):
        log_run(failed({"event": "RunError", "content": "boom", "error_type": "bug"}))
    assert caplog.records == []
    with caplog.at_level(logging.WARNING, logger="agentos_runtime.runs"):
        log_run(failed({"event": "RunError", "content": "boom", "error_type": "bug"}))
        log_run({"run_id": "r-2", "agent_id": "assistant", "status": "COMPLETED"})
    [record] = caplog.records
    assert (
        record.levelno == logging.WARNING and record.getMessage() == "run r-1 of agent assistant ended error: bug: boom"
    )


def completed_run() -> dict[str, object]:
    return {"run_id": "r-9", "agent_id": "assistant", "session_id": "s-1", "status": "COMPLETED", "events": []}


def row() -> SessionRow:
    return SessionRow(session_id="s-1", session_type="agent", created_at=1)


@pytest.mark.parametrize("metrics", [None, RuntimeMetrics()], ids=["metrics-off", "metrics-on"])
async def test_a_run_is_logged_once_it_is_saved(
    caplog: pytest.LogCaptureFixture, metrics: RuntimeMetrics | None
) -> None:
    database = observe_database(InMemoryDatabase(id="main"), db_id="main", metrics=metrics)
    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs"):
        await database.sessions.save_run(row(), completed_run(), session_state=None)
    [record] = caplog.records
    assert record.levelno == logging.INFO and record.getMessage() == "run r-9 of agent assistant ended completed"
    assert (await database.sessions.get_session("s-1")) is not None


@pytest.mark.parametrize("metrics", [None, RuntimeMetrics()], ids=["metrics-off", "metrics-on"])
async def test_a_run_whose_save_failed_is_logged_as_failed_by_the_save(
    caplog: pytest.LogCaptureFixture, metrics: RuntimeMetrics | None
) -> None:
    memory = InMemoryDatabase(id="main")

    async def refuse(new: SessionRow, run: dict[str, object], *, session_state: object) -> SessionRow:
        raise StorageUnavailable("database 'main' is unavailable")

    memory.sessions.save_run = refuse  # type: ignore[method-assign]
    database = observe_database(memory, db_id="main", metrics=metrics)
    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs"), pytest.raises(StorageUnavailable):
        await database.sessions.save_run(row(), completed_run(), session_state=None)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "run r-9 of agent assistant ended error: storage_unavailable: "
        "the run could not be saved: database 'main' is unavailable"
    )
    if metrics is not None:
        assert 'agentos_storage_errors_total{db_id="main",operation="sessions.save_run"} 1' in metrics.render().decode()


@pytest.mark.parametrize("refusal", [StorageUnavailable("database 'main' is unavailable"), ValueError("refused")])
async def test_a_completed_run_whose_save_failed_is_counted_as_an_error_run_not_a_completed_one(
    refusal: Exception,
) -> None:
    memory = InMemoryDatabase(id="main")

    async def refuse(new: SessionRow, run: dict[str, object], *, session_state: object) -> SessionRow:
        raise refusal

    memory.sessions.save_run = refuse  # type: ignore[method-assign]
    metrics = RuntimeMetrics()
    database = observe_database(memory, db_id="main", metrics=metrics)
    with pytest.raises(type(refusal)):
        await database.sessions.save_run(row(), completed_run(), session_state=None)
    await observe_database(InMemoryDatabase(id="other"), db_id="other", metrics=metrics).sessions.save_run(
        row(), completed_run(), session_state=None
    )

    assert metrics.runs.value(("agent", "assistant", "error")) == 1
    assert metrics.runs.value(("agent", "assistant", "completed")) == 1, "only the saved run completed"


@pytest.mark.parametrize("metrics", [None, RuntimeMetrics()], ids=["metrics-off", "metrics-on"])
async def test_a_background_run_stored_as_it_starts_is_logged_and_counted_once_when_it_ends(
    caplog: pytest.LogCaptureFixture, metrics: RuntimeMetrics | None
) -> None:
    database = observe_database(InMemoryDatabase(id="main"), db_id="main", metrics=metrics)
    started = {**completed_run(), "status": "RUNNING"}
    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs"):
        await database.sessions.save_run(row(), started, session_state=None)
        assert caplog.records == [], "a run stored RUNNING has not ended"
        await database.sessions.save_run(row(), completed_run(), session_state=None)
    assert [record.getMessage() for record in caplog.records] == ["run r-9 of agent assistant ended completed"]
    if metrics is not None:
        assert metrics.runs.value(("agent", "assistant", "running")) == 0
        assert metrics.runs.value(("agent", "assistant", "completed")) == 1


async def test_a_background_run_that_could_not_be_stored_as_it_starts_is_a_storage_error_not_an_ended_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    memory = InMemoryDatabase(id="main")

    async def refuse(new: SessionRow, run: dict[str, object], *, session_state: object) -> SessionRow:
        raise StorageUnavailable("database 'main' is unavailable")

    memory.sessions.save_run = refuse  # type: ignore[method-assign]
    metrics = RuntimeMetrics()
    database = observe_database(memory, db_id="main", metrics=metrics)
    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs"), pytest.raises(StorageUnavailable):
        await database.sessions.save_run(row(), {**completed_run(), "status": "RUNNING"}, session_state=None)
    assert caplog.records == []
    assert metrics.runs.value(("agent", "assistant", "error")) == 0
    assert 'agentos_storage_errors_total{db_id="main",operation="sessions.save_run"} 1' in metrics.render().decode()


def asked(input_tokens: int) -> dict[str, object]:
    """An assistant message of a model request that read ``input_tokens``."""
    return {"role": "assistant", "content": "…", "metrics": {"input_tokens": input_tokens, "duration": 0.5}}


async def test_a_run_whose_save_is_tried_again_is_logged_and_counted_once(caplog: pytest.LogCaptureFixture) -> None:
    # A background run's failed save is tried again up to ten times: each failed attempt logged
    # and counted it again (11 errors, its tokens 11 times), and the one that landed once more.
    memory, attempts = InMemoryDatabase(id="main"), []
    saved = memory.sessions.save_run

    async def refuse_three_times(new: SessionRow, run: dict[str, object], *, session_state: object) -> SessionRow:
        attempts.append(run["run_id"])
        if len(attempts) <= 3:
            raise StorageUnavailable("database 'main' is unavailable")
        return await saved(new, run, session_state=session_state)

    memory.sessions.save_run = refuse_three_times  # type: ignore[method-assign]
    metrics = RuntimeMetrics()
    database = observe_database(memory, db_id="main", metrics=metrics)
    run = {**completed_run(), "model": "m", "model_provider": "p", "messages": [asked(10)]}
    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs"):
        for _ in range(3):
            with pytest.raises(StorageUnavailable):
                await database.sessions.save_run(row(), run, session_state=None)
        await database.sessions.save_run(row(), run, session_state=None)

    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["run r-9 of agent assistant ended error"]
    assert metrics.runs.value(("agent", "assistant", "error")) == 1
    assert metrics.runs.value(("agent", "assistant", "completed")) == 0
    assert metrics.tokens.value(("m", "p", "input")) == 10
    assert 'agentos_storage_errors_total{db_id="main",operation="sessions.save_run"} 3' in metrics.render().decode()


async def test_a_paused_run_is_logged_as_paused_and_counted_once_with_every_request_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Counted paused then completed, the requests before the pause twice (they stay on the run).
    metrics = RuntimeMetrics()
    database = observe_database(InMemoryDatabase(id="main"), db_id="main", metrics=metrics)
    model = {"model": "m", "model_provider": "p"}
    paused = {**completed_run(), **model, "status": "PAUSED", "messages": [asked(100)]}
    ended = {**completed_run(), **model, "messages": [asked(100), asked(10)]}
    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs"):
        await database.sessions.save_run(row(), paused, session_state=None)
        await database.sessions.save_run(row(), ended, session_state=None)

    assert [r.getMessage() for r in caplog.records] == [
        "run r-9 of agent assistant paused, waiting for a decision",
        "run r-9 of agent assistant ended completed",
    ]
    assert metrics.runs.value(("agent", "assistant", "paused")) == 0
    assert metrics.runs.value(("agent", "assistant", "completed")) == 1
    assert metrics.tokens.value(("m", "p", "input")) == 110
