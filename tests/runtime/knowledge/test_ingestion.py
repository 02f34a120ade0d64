"""Background processing: bounded, kept alive by a heartbeat, and taken up again after a stop.

Two hubs on one database are two replicas: a content one of them is processing (its lease
fresh) is left alone by the other; a content whose replica stopped is failed (an upload, its
bytes gone) or processed again (a URL) once its lease runs out. Time is the hubs' clock,
moved by the test.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from agentos_runtime.config.knowledge import ChunkingSettings, KnowledgeBaseConfig
from agentos_runtime.errors import Busy, ModelAuthenticationError, StorageUnavailable
from agentos_runtime.knowledge.base import KnowledgeBase, Upload
from agentos_runtime.knowledge.hub import LEASE_SECONDS, RESTARTED_MESSAGE, KnowledgeHub
from agentos_runtime.knowledge.ingestion import IngestionQueue, build_chunks, failure_message, max_chunks
from agentos_runtime.knowledge.records import Content
from agentos_runtime.knowledge.stores.checking import IncompatibleStore
from agentos_runtime.knowledge.stores.opening import open_knowledge_store
from agentos_runtime.storage.factory import open_database

from tests.runtime.api.harness import build_app
from tests.runtime.knowledge.hubs import FakeEmbedder, KnowledgeSpace
from tests.support.fake_openai import EmbeddingReply, FakeOpenAIServer, fake_openai, fake_openai_server, serve_asgi

__all__ = ["fake_openai", "fake_openai_server"]

HANDBOOK = b"Parental leave is sixteen weeks, fully paid, for every parent."


class Site:
    """Serves ``/handbook.txt``; counts the requests."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.requests += 1
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(HANDBOOK)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": HANDBOOK})


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Site, int]]:
    app = Site()
    with serve_asgi(app) as port:
        yield app, port


def gated() -> FakeEmbedder:
    embedder = FakeEmbedder()
    embedder.gate = asyncio.Event()
    return embedder


async def test_a_replica_leaves_alone_a_content_another_replica_keeps_alive(space: KnowledgeSpace) -> None:
    first = await space.open(embedder=gated())
    added = await first["docs"].add(Upload(text="Parental leave is sixteen weeks."))
    await space.embedders[0].entered.wait()
    second = await space.open()

    space.clock.advance(LEASE_SECONDS + 1)
    await first.heartbeat()
    await second.sweep()

    assert (await second["docs"].get(added.id)).status == "processing"
    assert (await second["docs"].get(added.id)).updated_at == int(space.clock())
    space.embedders[0].gate.set()  # type: ignore[union-attr]
    await first.wait_idle()
    assert (await second["docs"].get(added.id)).status == "completed"


async def test_an_upload_left_processing_by_a_stopped_replica_is_failed_once_its_lease_runs_out(
    space: KnowledgeSpace,
) -> None:
    first = await space.open(embedder=gated())
    added = await first["docs"].add(Upload(text="Parental leave is sixteen weeks."))
    await space.embedders[0].entered.wait()
    await first.close()  # stops mid-way: the row stays processing, no heartbeat any more
    second = await space.open()

    await second.sweep()
    assert (await second["docs"].get(added.id)).status == "processing"
    space.clock.advance(LEASE_SECONDS + 1)
    await second.sweep()

    failed = await second["docs"].get(added.id)
    assert (failed.status, failed.status_message) == ("failed", RESTARTED_MESSAGE)
    assert await second["docs"].store.counts() == (1, 0)


async def test_a_url_left_processing_by_a_stopped_runtime_is_fetched_again_at_the_next_start(
    space: KnowledgeSpace, site: tuple[Site, int]
) -> None:
    server, port = site
    base = space.base(allowed_hosts=[f"127.0.0.1:{port}"])
    first = await space.open(base, embedder=gated())
    added = await first["docs"].add(Upload(url=f"http://127.0.0.1:{port}/handbook.txt"))
    await space.embedders[0].entered.wait()
    await first.close()
    fetched = server.requests

    space.clock.advance(LEASE_SECONDS + 1)
    second = await space.open(base)  # start-up sweeps
    await second.wait_idle()

    resumed = await second["docs"].get(added.id)
    assert (resumed.status, resumed.name, resumed.type) == ("completed", f"http://127.0.0.1:{port}/handbook.txt", "url")
    assert server.requests == fetched + 1
    (hit,) = await second["docs"].search("how long is parental leave", max_results=1)
    assert hit.content == HANDBOOK.decode()


async def test_an_edit_that_crosses_the_end_of_processing_leaves_the_content_completed_and_its_chunks(
    space: KnowledgeSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = await space.open(embedder=gated())
    docs = hub["docs"]
    added = await docs.add(Upload(text="Parental leave is sixteen weeks."))
    await space.embedder.entered.wait()
    edit = docs.store.edit_content

    async def edit_once_processing_ended(content: Content, **changes: Any) -> bool:
        space.embedder.gate.set()  # type: ignore[union-attr]  # read before, written after: completed meanwhile
        await hub.wait_idle()
        return await edit(content, **changes)

    monkeypatch.setattr(docs.store, "edit_content", edit_once_processing_ended)
    edited = await docs.update(added.id, name="Parental leave", metadata={"team": "hr"})
    space.clock.advance(LEASE_SECONDS + 1)
    await hub.sweep()  # a content left processing past its lease is failed, its chunks removed

    stored = await docs.get(added.id)
    assert (stored.name, stored.metadata, stored.status) == ("Parental leave", {"team": "hr"}, "completed")
    assert edited.status == "completed"
    assert await docs.store.counts() == (1, 1)


async def test_refreshes_sent_at_once_fetch_the_url_once_and_the_others_are_a_conflict(
    space: KnowledgeSpace, site: tuple[Site, int]
) -> None:
    server, port = site
    hub = await space.open(space.base(allowed_hosts=[f"127.0.0.1:{port}"]))
    docs = hub["docs"]
    added = await docs.add(Upload(url=f"http://127.0.0.1:{port}/handbook.txt"))
    await hub.wait_idle()
    fetched = server.requests
    space.embedder.gate = asyncio.Event()  # the refresh that is taken waits in its embedding

    answers = await asyncio.gather(*[docs.refresh(added.id) for _ in range(6)], return_exceptions=True)

    assert sorted(type(answer).__name__ for answer in answers) == ["Conflict"] * 5 + ["Content"]
    space.embedder.gate.set()
    await hub.wait_idle()
    assert server.requests == fetched + 1
    assert (await docs.get(added.id)).status == "completed"
    assert await docs.store.counts() == (1, 1)


async def test_an_edit_that_lands_while_a_refresh_starts_keeps_its_name_and_metadata(
    space: KnowledgeSpace, site: tuple[Site, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, port = site
    hub = await space.open(space.base(allowed_hosts=[f"127.0.0.1:{port}"]))
    docs = hub["docs"]
    added = await docs.add(Upload(url=f"http://127.0.0.1:{port}/handbook.txt"))
    await hub.wait_idle()
    get_content = docs.store.get_content

    async def read_then_edited(content_id: str, **scope: Any) -> Content | None:
        read = await get_content(content_id, **scope)
        monkeypatch.setattr(docs.store, "get_content", get_content)
        await docs.update(content_id, name="Handbook", metadata={"team": "hr"})  # after the refresh read it
        return read

    monkeypatch.setattr(docs.store, "get_content", read_then_edited)
    await docs.refresh(added.id)
    await hub.wait_idle()

    stored = await docs.get(added.id)
    assert (stored.name, stored.metadata, stored.status) == ("Handbook", {"team": "hr"}, "completed")


async def test_the_heartbeat_refreshes_the_lease_of_every_content_queued_or_processing(space: KnowledgeSpace) -> None:
    hub = await space.open(embedder=gated(), concurrency=1)
    docs = hub["docs"]
    running = await docs.add(Upload(text="first"))
    queued = await docs.add(Upload(text="second"))
    await space.embedder.entered.wait()

    space.clock.advance(30)
    await hub.heartbeat()

    for content in (running, queued):
        assert (await docs.get(content.id)).updated_at == int(space.clock())
    space.embedder.gate.set()  # type: ignore[union-attr]
    await hub.wait_idle()
    assert docs.pending == set()


async def test_a_content_deleted_while_processing_stays_deleted(space: KnowledgeSpace) -> None:
    hub = await space.open(embedder=gated())
    docs = hub["docs"]
    added = await docs.add(Upload(text="Parental leave is sixteen weeks."))
    await space.embedder.entered.wait()

    await docs.delete(added.id)
    space.embedder.gate.set()  # type: ignore[union-attr]
    await hub.wait_idle()

    assert await docs.list() == ([], 0)
    assert await docs.store.counts() == (0, 0)


async def test_a_content_its_chunking_would_cut_into_too_many_chunks_fails_before_any_embedding(
    space: KnowledgeSpace,
) -> None:
    hub = await space.open()
    docs = hub["docs"]
    kept = await docs.add(Upload(text="Parental leave is sixteen weeks."))
    await hub.wait_idle()
    calls = len(space.embedder.calls)
    limit = max_chunks(docs.config)
    # A chunk for every few characters: chunk_size 50 repeating 49 of them.
    text = "leave " * (limit * 2)
    added = await docs.add(Upload(text=text, chunking=ChunkingSettings(strategy="fixed", size=50, overlap=49)))
    await hub.wait_idle()

    failed = await docs.get(added.id)
    assert failed.status == "failed"
    assert failed.status_message == (
        f"the content would be cut into more than {limit:,} chunks (chunk_size 50, chunk_overlap 49): "
        "upload it with a larger chunk_size or a smaller chunk_overlap, or split the document"
    )
    assert len(space.embedder.calls) == calls
    assert (await docs.get(kept.id)).status == "completed"
    assert await docs.store.counts() == (2, 1)


def test_a_content_may_have_ten_thousand_chunks_or_twice_what_its_base_cuts_its_largest_content_into() -> None:
    def base(**fields: object) -> KnowledgeBaseConfig:
        return KnowledgeBaseConfig.model_validate({"id": "docs", "embedder": {"dimensions": 8}, **fields})

    assert max_chunks(base()) == 10_000  # 20 MiB in chunks of 5,000 characters: 4,195
    assert max_chunks(base(max_content_bytes=100 * 2**20, chunking={"size": 1000})) == 209_716


@dataclass
class SlowReading:
    """A PDF being read page by page, and the numbers of the pages its reader has begun."""

    hub: KnowledgeHub
    docs: KnowledgeBase
    added: Content
    pages_begun: list[int]
    readers: ActiveReaders


class ActiveReaders:
    """How many threads are inside the document reader now, counted by a wrapper around it
    (walking other threads' frames is racy on CPython 3.11: a frame can be freed mid-walk)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def wrap(self, read: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self._count += 1
            try:
                return read(*args, **kwargs)
            finally:
                with self._lock:
                    self._count -= 1

        return counted

    def __len__(self) -> int:
        with self._lock:
            return self._count


async def reading_a_slow_pdf(space: KnowledgeSpace, monkeypatch: pytest.MonkeyPatch) -> SlowReading:
    """A hub whose ``docs`` base is reading a PDF that takes pypdf seconds a page for 8 pages
    (half a minute or more, within raised limits), once its reading thread has begun. Which
    pages were begun is counted, so a test can tell a reading stopped within its page from one
    waited for, however slow the machine."""
    from agentos_runtime.knowledge import ingestion, reading

    from tests.runtime.knowledge.test_reading import shared_stream_pdf

    monkeypatch.setattr(reading, "PDF_MAX_PAGE_WORK", 64 * 1024 * 1024)
    monkeypatch.setattr(reading, "PDF_MAX_WORK", 64 * 1024 * 1024)
    pages_begun: list[int] = []
    start_page = reading._PdfWatch.start_page

    def counting_start_page(watch: Any, page: Any, number: int) -> None:
        pages_begun.append(number)
        start_page(watch, page, number)

    monkeypatch.setattr(reading._PdfWatch, "start_page", counting_start_page)
    readers = ActiveReaders()
    monkeypatch.setattr(ingestion, "read_content", readers.wrap(reading.read_content))
    hub = await space.open()
    docs = hub["docs"]
    added = await docs.add(Upload(data=shared_stream_pdf(150_000, 8), filename="slow.pdf"))
    while not docs.pipeline.reading(added.id):
        await asyncio.sleep(0.01)
    return SlowReading(hub, docs, added, pages_begun, readers)


async def test_deleting_a_content_stops_the_reading_of_its_pdf(
    sqlite_space: KnowledgeSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = await reading_a_slow_pdf(sqlite_space, monkeypatch)

    begun_before = len(slow.pages_begun)
    await slow.docs.delete(slow.added.id)
    await asyncio.wait_for(slow.hub.wait_idle(), timeout=120)

    assert len(slow.pages_begun) <= begun_before + 1 < 8  # the page being parsed at most, not the ones after it
    assert not slow.docs.pipeline.reading(slow.added.id)
    assert await slow.docs.list() == ([], 0)


async def test_closing_the_hub_stops_the_reading_thread_instead_of_waiting_for_it(
    sqlite_space: KnowledgeSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = await reading_a_slow_pdf(sqlite_space, monkeypatch)
    assert len(slow.readers) == 1

    begun_before = len(slow.pages_begun)
    await slow.hub.close()
    await asyncio.wait_for(_no_reading_thread(slow.readers), timeout=120)

    assert len(slow.pages_begun) <= begun_before + 1 < 8  # the page being parsed at most, not the ones after it
    assert not slow.docs.pipeline.reading(slow.added.id)


async def _no_reading_thread(readers: ActiveReaders) -> None:
    while len(readers):
        await asyncio.sleep(0.05)


async def test_the_queue_runs_at_most_its_concurrency_at_once_and_knows_when_it_is_idle() -> None:
    queue = IngestionQueue(concurrency=2)
    gate = asyncio.Event()
    started: list[int] = []

    def job(number: int) -> Any:
        async def run() -> None:
            started.append(number)
            await gate.wait()

        return run

    for number in range(3):
        queue.submit(job(number), name=f"job {number}")
    for _ in range(5):
        await asyncio.sleep(0)  # let every task that can start run to its first wait

    assert started == [0, 1]
    assert queue.busy
    gate.set()
    await queue.wait_idle()
    assert sorted(started) == [0, 1, 2]
    assert not queue.busy


def test_chunks_carry_the_content_metadata_with_agnos_chunk_fields_and_stable_ids() -> None:
    content = Content(id="c1", name="handbook", linked_to="docs", metadata={"team": "hr", "chunk": "theirs"})

    chunks = build_chunks(content, ["one", "two"], [[1.0, 0.0], [0.0, 1.0]], content_hash="h")
    again = build_chunks(content, ["one", "two"], [[1.0, 0.0], [0.0, 1.0]], content_hash="h")

    assert [c.meta_data for c in chunks] == [
        {"team": "hr", "chunk": 1, "chunk_size": 3, "linked_to": "docs"},
        {"team": "hr", "chunk": 2, "chunk_size": 3, "linked_to": "docs"},
    ]
    assert [(c.content_id, c.name, c.content_hash) for c in chunks] == [("c1", "handbook", "h")] * 2
    assert [c.id for c in chunks] == [c.id for c in again]
    assert len({c.id for c in chunks}) == 2


def test_a_provider_failure_becomes_a_status_message_that_says_embedding_failed() -> None:
    error = ModelAuthenticationError("the embeddings endpoint refused the API key (401)")

    assert failure_message(error) == "embedding failed: the embeddings endpoint refused the API key (401)"


@pytest.mark.parametrize(
    ("wrong", "problem"),
    [
        (EmbeddingReply.wrong_length(768), "the endpoint returned vectors of 768 dimensions where 64 are configured"),
        (EmbeddingReply.short(1), "the endpoint answered 1 vectors for 2 texts"),
    ],
    ids=["length", "number"],
)
async def test_an_embedder_answering_the_wrong_number_or_length_of_vectors_fails_the_content_and_stores_nothing(
    fake_openai: FakeOpenAIServer, tmp_path: Path, wrong: EmbeddingReply, problem: str
) -> None:
    fake_openai.script_embeddings(EmbeddingReply(), wrong)  # the first request is answered right
    embedder = {"base_url": fake_openai.base_url, "api_key_env": None, "dimensions": 64, "batch_size": 2}
    base = {"id": "docs", "embedder": embedder, "chunking": {"strategy": "fixed", "size": 50}}
    app = build_app(yaml.safe_dump({"knowledge_bases": [base]}), data_dir=tmp_path, open_database=open_database)

    async with app.router.lifespan_context(app):
        docs = app.state.context.knowledge["docs"]
        added = await docs.add(Upload(text="Parental leave is sixteen weeks. " * 6))  # 4 chunks or more
        await docs.wait_idle()
        failed = await docs.get(added.id)
        held = await docs.store.counts()

    assert len(fake_openai.embedding_requests) == 2
    assert failed.status == "failed"
    assert (failed.status_message or "").startswith(f"embedding failed: model 'text-embedding-3-small': {problem}")
    assert held == (1, 0)


async def test_the_maintenance_loop_beats_for_live_contents_and_fails_those_a_stopped_replica_left(
    sqlite_space: KnowledgeSpace,
) -> None:
    stopped = await sqlite_space.open(embedder=gated())
    orphan = await stopped["docs"].add(Upload(text="left behind"))
    await sqlite_space.embedders[0].entered.wait()
    await stopped.close()
    live = await sqlite_space.open(embedder=gated())
    docs = live["docs"]
    kept = await docs.add(Upload(text="kept alive"))
    await sqlite_space.embedder.entered.wait()
    failed = asyncio.Event()
    fail_content = docs.store.fail_content

    async def failing(content_id: str, message: str, *, updated_at: int) -> None:
        await fail_content(content_id, message, updated_at=updated_at)
        failed.set()

    docs.store.fail_content = failing  # type: ignore[method-assign]
    live.heartbeat_seconds = 0.001
    await live.start()  # the bases are started already: this starts the loop
    sqlite_space.clock.advance(LEASE_SECONDS + 1)

    await asyncio.wait_for(failed.wait(), timeout=10)
    assert (await docs.get(orphan.id)).status_message == RESTARTED_MESSAGE
    assert (await docs.get(kept.id)).status == "processing"
    assert (await docs.get(kept.id)).updated_at == int(sqlite_space.clock())


async def test_a_base_whose_database_is_down_at_start_is_started_by_a_later_sweep_and_loads_its_sources(
    sqlite_space: KnowledgeSpace, tmp_path: Path
) -> None:
    (tmp_path / "faq.txt").write_text("Badges are issued at the reception desk.")
    attempts: list[str] = []

    async def flaky(base: Any, database: Any, **where: Any) -> Any:
        attempts.append(base.id)
        if len(attempts) == 1:
            raise StorageUnavailable(f"database '{database.id}' is unavailable")
        return await open_knowledge_store(base, database, **where)

    base = sqlite_space.base(sources=[{"path": str(tmp_path / "faq.txt")}])
    hub = await sqlite_space.open(base, open_store=flaky)  # starts without its database
    docs = hub["docs"]
    assert not docs.prepared
    assert await docs.list() == ([], 0)  # the store opens on first use once the database answers

    await hub.sweep()
    await hub.wait_idle()

    (faq,) = (await docs.list())[0]
    assert (faq.name, faq.status) == ("faq.txt", "completed")
    assert len(attempts) == 2


async def test_the_app_starts_with_a_knowledge_base_whose_database_is_down(tmp_path: Path) -> None:
    config = yaml.safe_dump(
        {
            "databases": [{"id": "main", "type": "postgres"}],
            "knowledge_bases": [{"id": "docs", "embedder": {"base_url": "http://127.0.0.1:1/v1", "api_key_env": None}}],
        }
    )
    environ = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test"}
    app = build_app(config, data_dir=tmp_path, open_database=open_database, environ=environ)

    async with app.router.lifespan_context(app):
        docs = app.state.context.knowledge["docs"]
        assert not docs.prepared
        with pytest.raises(StorageUnavailable) as down:
            await docs.add(Upload(text="anything"))

    assert "127.0.0.1:1" not in down.value.detail
    assert "postgresql://" not in down.value.detail


async def test_a_stale_content_whose_recorded_file_is_outside_every_source_path_is_failed_not_read(
    sqlite_space: KnowledgeSpace, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the knowledge base")
    (tmp_path / "docs").mkdir()
    hub = await sqlite_space.open(sqlite_space.base(sources=[{"path": str(tmp_path / "docs")}]))
    docs = hub["docs"]
    planted = Content(
        id="planted",
        name="secret.txt",
        linked_to="docs",
        external_id=secret.as_uri(),
        created_at=int(sqlite_space.clock()),
        updated_at=int(sqlite_space.clock()),
    )
    await docs.store.add_content(planted)

    sqlite_space.clock.advance(LEASE_SECONDS + 1)
    await hub.sweep()
    await hub.wait_idle()

    failed = await docs.get("planted")
    assert failed.status == "failed"
    assert failed.status_message == f"{secret} is not under a source path of this knowledge base"
    assert sqlite_space.embedder.calls == []


async def test_a_base_its_database_cannot_hold_is_an_error_logged_once_and_its_requests_say_why(
    space: KnowledgeSpace, caplog: pytest.LogCaptureFixture
) -> None:
    filled = await space.open()
    await filled["docs"].add(Upload(text="Parental leave is sixteen weeks."))
    await filled.wait_idle()
    other_model = space.base(embedder={"dimensions": 32})

    with caplog.at_level(logging.WARNING, logger="agentos_runtime.knowledge"):
        hub = await space.open(other_model, embedder=FakeEmbedder(dimensions=32))
        await hub.sweep()

    errors = [r for r in caplog.records if r.name == "agentos_runtime.knowledge" and r.levelno >= logging.WARNING]
    assert [r.levelno for r in errors] == [logging.ERROR]
    assert errors[0].getMessage().startswith("knowledge base docs cannot be opened: ")
    with pytest.raises(IncompatibleStore) as refused:
        await hub["docs"].search("parental leave")
    assert refused.value.status_code == 503
    assert "64" in refused.value.detail and "32" in refused.value.detail


async def test_uploads_waiting_past_the_held_bytes_budget_are_refused_with_503_and_retry_after_storing_nothing(
    sqlite_space: KnowledgeSpace,
) -> None:
    hub = await sqlite_space.open(embedder=gated(), concurrency=1, max_held_bytes=100)
    docs = hub["docs"]
    first = await docs.add(Upload(text="a" * 80))  # one upload is always taken, and now waits
    await sqlite_space.embedders[0].entered.wait()

    with pytest.raises(Busy) as refused:
        await docs.add(Upload(text="b" * 40))
    small = await docs.add(Upload(text="c" * 20))  # still within the budget

    assert refused.value.status_code == 503 and refused.value.retry_after == 30
    assert refused.value.detail.startswith("80 bytes of uploads are waiting to be processed")
    assert {c.id for c in (await docs.list())[0]} == {first.id, small.id}
    sqlite_space.embedders[0].gate.set()  # type: ignore[union-attr]
    await hub.wait_idle()
    assert await docs.add(Upload(text="d" * 90)) is not None  # given back once processed


async def test_a_busy_answer_says_when_to_retry() -> None:
    from agentos_runtime.api.errors import install_error_handlers
    from fastapi import FastAPI

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/upload")
    async def upload() -> None:
        raise Busy("80 bytes of uploads are waiting to be processed", retry_after=30)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answer = await client.post("/upload")

    assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
    assert answer.json() == {"detail": "80 bytes of uploads are waiting to be processed"}
