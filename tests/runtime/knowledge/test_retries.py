"""Contents that failed for a reason that passes (the embeddings endpoint not up yet, as when an
Ollama or TEI Service starts after the runtime) are processed again with capped, jittered
exponential backoff; a permanent failure is not. The retries are timed by a scheduler the test
holds: nothing sleeps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from agentos_runtime.errors import ModelAuthenticationError, ModelConnectionError, StorageUnavailable
from agentos_runtime.knowledge.reading import UnreadableContent
from agentos_runtime.knowledge.retrying import MAX_RETRY_SECONDS, is_transient, next_retry, retry_delay
from agentos_runtime.knowledge.sources import FetchFailed
from agentos_runtime.knowledge.stores.checking import IncompatibleStore
from agentos_runtime.llm.failures import status_error

from tests.runtime.knowledge.hubs import FakeEmbedder, KnowledgeSpace

FAQ = "Badges are issued at the reception desk on the first day."
UNREACHABLE = ModelConnectionError("model 'embed': cannot reach the endpoint: connection refused", model_id="embed")


@dataclass
class Pending:
    delay: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeSchedule:
    """Records what is scheduled; ``fire`` runs the next call that is still due."""

    def __init__(self) -> None:
        self.calls: list[Pending] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> Pending:
        self.calls.append(Pending(delay, callback))
        return self.calls[-1]

    @property
    def due(self) -> list[Pending]:
        return [call for call in self.calls if not call.cancelled and call.callback is not None]

    def fire(self) -> float:
        (call,) = self.due
        callback = call.callback
        call.cancelled = True  # run once
        callback()
        return call.delay


def _model_error(status: int) -> Exception:
    return status_error(status, "oops", code=None, model_id="embed", api_key_env=None, api_key=None)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (UNREACHABLE, True),
        (_model_error(503), True),
        (_model_error(500), True),
        (_model_error(429), True),
        (_model_error(408), True),
        (_model_error(401), False),
        (_model_error(404), False),
        (ModelAuthenticationError("model 'embed': no API key"), False),
        (FetchFailed("fetching x failed: no connection (ConnectError)", transient=True), True),
        (FetchFailed("fetching x failed: HTTP 404"), False),
        (StorageUnavailable("database down"), True),
        (IncompatibleStore("no pgvector"), False),
        (UnreadableContent("not a PDF"), False),
        (FileNotFoundError(2, "No such file or directory"), False),
        (RuntimeError("a bug"), False),
    ],
)
def test_a_failure_is_transient_only_when_the_same_request_may_succeed_later(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient
    assert (next_retry(error, resumable=True, attempt=1, jitter=1.0) is not None) is transient
    assert next_retry(error, resumable=False, attempt=1, jitter=1.0) is None


def test_the_delay_doubles_from_two_seconds_to_five_minutes_and_is_jittered_down_to_half() -> None:
    assert [retry_delay(attempt, jitter=1.0) for attempt in range(1, 10)] == [
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
        64.0,
        128.0,
        256.0,
        MAX_RETRY_SECONDS,
    ]
    assert retry_delay(1000, jitter=1.0) == MAX_RETRY_SECONDS
    assert retry_delay(1, jitter=0.0) == 1.0
    assert retry_delay(20, jitter=0.0) == MAX_RETRY_SECONDS / 2
    assert 2.0 < retry_delay(2, jitter=0.25) < 4.0


async def test_a_source_failing_while_the_embedder_is_unreachable_is_retried_until_it_answers(
    sqlite_space: KnowledgeSpace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    faq = tmp_path / "faq.txt"
    faq.write_text(FAQ)
    embedder = FakeEmbedder()
    embedder.fail_with = UNREACHABLE
    schedule = FakeSchedule()
    hub = await sqlite_space.open(sqlite_space.base(sources=[{"path": str(faq)}]), embedder=embedder, schedule=schedule)
    await hub.wait_idle()
    base = hub["docs"]
    ((content,), _) = await base.list()

    assert content.status == "failed"
    assert len(schedule.due) == 1 and 1.0 <= schedule.due[0].delay <= 2.0
    due_at = datetime.fromtimestamp(sqlite_space.clock() + schedule.due[0].delay, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        content.status_message == f"embedding failed: {UNREACHABLE.detail} (a temporary failure: retry 1 at {due_at})"
    )

    first = schedule.fire()  # still unreachable: the next wait is longer
    await hub.wait_idle()
    assert len(schedule.due) == 1 and 2.0 <= schedule.due[0].delay <= 4.0 and schedule.due[0].delay > first / 2
    assert "retry 2 at" in ((await base.get(content.id)).status_message or "")
    assert len(embedder.calls) == 2

    embedder.fail_with = None  # the endpoint is up
    with caplog.at_level(logging.INFO, logger="agentos_runtime.knowledge"):
        schedule.fire()
        await hub.wait_idle()

    done = await base.get(content.id)
    assert (done.status, done.status_message) == ("completed", None)
    assert schedule.due == [] and base.retries_due == []
    assert [hit.content for hit in await base.search("where are badges issued")] == [FAQ]
    assert any(f"processing content {content.id} again" in record.getMessage() for record in caplog.records)


async def test_a_permanent_failure_is_not_retried(sqlite_space: KnowledgeSpace, tmp_path: Path) -> None:
    faq = tmp_path / "faq.txt"
    faq.write_text(FAQ)
    embedder = FakeEmbedder()
    embedder.fail_with = ModelAuthenticationError("model 'embed': the endpoint rejected the API key (401)")
    schedule = FakeSchedule()
    hub = await sqlite_space.open(sqlite_space.base(sources=[{"path": str(faq)}]), embedder=embedder, schedule=schedule)
    await hub.wait_idle()
    ((content,), _) = await hub["docs"].list()

    assert content.status == "failed"
    assert content.status_message == "embedding failed: model 'embed': the endpoint rejected the API key (401)"
    assert schedule.calls == []


async def test_an_upload_is_not_retried_its_bytes_are_gone(sqlite_space: KnowledgeSpace) -> None:
    from agentos_runtime.knowledge.base import Upload

    embedder = FakeEmbedder()
    embedder.fail_with = UNREACHABLE
    schedule = FakeSchedule()
    hub = await sqlite_space.open(embedder=embedder, schedule=schedule)
    added = await hub["docs"].add(Upload(text=FAQ))
    await hub.wait_idle()

    assert (await hub["docs"].get(added.id)).status_message == f"embedding failed: {UNREACHABLE.detail}"
    assert schedule.calls == []


async def test_a_retry_due_is_cancelled_when_its_content_is_deleted_or_refreshed(
    sqlite_space: KnowledgeSpace, tmp_path: Path
) -> None:
    faq = tmp_path / "faq.txt"
    faq.write_text(FAQ)
    guide = tmp_path / "guide.md"
    guide.write_text("# Guide\n\nInstall the agent.")
    embedder = FakeEmbedder()
    embedder.fail_with = UNREACHABLE
    schedule = FakeSchedule()
    base_config = sqlite_space.base(sources=[{"path": str(faq)}, {"path": str(guide)}])
    hub = await sqlite_space.open(base_config, embedder=embedder, schedule=schedule)
    await hub.wait_idle()
    base = hub["docs"]
    contents = {content.name: content for content in (await base.list())[0]}
    assert len(schedule.due) == 2

    await base.delete(contents["faq.txt"].id)
    embedder.fail_with = None
    await base.refresh(contents["guide.md"].id)
    await hub.wait_idle()

    assert schedule.due == [] and base.retries_due == []
    assert (await base.get(contents["guide.md"].id)).status == "completed"


async def test_a_url_source_whose_server_is_not_listening_yet_is_fetched_again_once_it_is(
    sqlite_space: KnowledgeSpace,
) -> None:
    import socket

    from tests.runtime.knowledge.test_sources import Site
    from tests.support.fake_openai import serve_asgi

    with socket.socket() as probe:  # a port nothing listens on (yet)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/handbook.html"
    schedule = FakeSchedule()
    base_config = sqlite_space.base(allowed_hosts=[f"127.0.0.1:{port}"], sources=[{"url": url, "name": "handbook"}])
    hub = await sqlite_space.open(base_config, schedule=schedule)
    await hub.wait_idle()
    ((content,), _) = await hub["docs"].list()

    assert content.status == "failed"
    assert (content.status_message or "").startswith(f"fetching {url} failed: no connection (ConnectError)")
    assert "retry 1 at" in (content.status_message or "") and len(schedule.due) == 1

    with serve_asgi(Site(), port=port):
        schedule.fire()
        await hub.wait_idle()

    done = await hub["docs"].get(content.id)
    assert (done.status, done.status_message, schedule.due) == ("completed", None, [])
    assert [hit.content for hit in await hub["docs"].search("parental leave")] == ["Parental leave is sixteen weeks."]


async def test_a_relative_source_path_that_fails_is_logged_with_the_directory_it_was_resolved_against(
    sqlite_space: KnowledgeSpace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="agentos_runtime.knowledge"):
        hub = await sqlite_space.open(sqlite_space.base(sources=[{"path": "docs/knowledge.md"}]))
        await hub.wait_idle()

    warnings = [r.getMessage() for r in caplog.records if "docs/knowledge.md" in r.getMessage()]
    assert warnings == [
        f"knowledge base docs: source docs/knowledge.md (relative to {tmp_path}) failed:"
        " reading failed: No such file or directory"
    ]
