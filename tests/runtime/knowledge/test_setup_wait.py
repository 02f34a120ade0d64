"""A knowledge base's setup (its store's ``prepare``: tables, the HNSW index) that does not end
keeps neither the runtime's start nor a request waiting for ever: each waits at most the setup
wait (the database's ``timeout_seconds`` and the 1 s grace), answers ``StorageUnavailable``
naming the base and its database, and leaves the setup running; the next call waits for that
same setup, which, once it ends, serves every call after it.

Before the bound, a start on a database that stopped answering, and every search or listing of
a base not set up yet, waited as long as the database did: the calls here are under an outer
bound, so a hang fails the test instead of holding it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.base import Upload
from agentos_runtime.knowledge.hub import SETUPS_AT_ONCE
from agentos_runtime.knowledge.ports import KnowledgeStore
from agentos_runtime.knowledge.stores.opening import open_knowledge_store

from tests.runtime.knowledge.hubs import KnowledgeSpace
from tests.runtime.knowledge.stores.conftest import drop_schema, pgvector_proxy, proxied
from tests.support.databases import unique_name

TIMEOUT = 0.2
# The setup wait (the timeout and its 1 s grace) and a margin for a loaded machine.
BOUND = TIMEOUT + 1.0 + 1.5
# What the test waits at most before calling a call hung.
OUTER = 20.0


class GatedSetups:
    """A store opener whose stores' ``prepare`` waits for ``gate`` (and fails with ``fail_with``
    when set), counting the setups begun."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.begun = 0
        self.fail_with: Exception | None = None
        self.stubborn = False
        """Whether a setup cancelled goes on waiting for the gate (a database holding the cancellation too)."""
        self.active = 0
        self.most_active = 0

    async def __call__(self, base: Any, database: Any, **where: Any) -> KnowledgeStore:
        store = await open_knowledge_store(base, database, **where)
        prepare = store.prepare

        async def gated() -> None:
            self.begun += 1
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            try:
                try:
                    await self.gate.wait()
                except asyncio.CancelledError:
                    if not self.stubborn:
                        raise
                    await self.gate.wait()
                if self.fail_with is not None:
                    error, self.fail_with = self.fail_with, None
                    raise error
                await prepare()
            finally:
                self.active -= 1

        store.prepare = gated  # type: ignore[method-assign]
        return store


@pytest.fixture
async def short_space(tmp_path: Path) -> AsyncIterator[KnowledgeSpace]:
    """A SQLite knowledge space whose database's ``timeout_seconds`` is ``TIMEOUT``."""
    database = DatabaseConfig.model_validate({"id": "kb-db", "type": "sqlite", "timeout_seconds": TIMEOUT})
    space = KnowledgeSpace("sqlite", database, {}, tmp_path / "data")
    space.data_dir.mkdir(parents=True)
    yield space
    for hub in space.hubs:
        await hub.close()


def awaiting(task: asyncio.Future[Any]) -> list[str]:
    """The functions ``task`` is suspended in, outermost first (its chain of awaits)."""
    names: list[str] = []
    coroutine: Any = task.get_coro() if isinstance(task, asyncio.Task) else None
    while coroutine is not None:
        frame = getattr(coroutine, "cr_frame", None)
        if frame is not None:
            names.append(frame.f_code.co_name)
        coroutine = getattr(coroutine, "cr_await", None)
    return names


async def waiting_for_the_setup(task: asyncio.Future[Any]) -> None:
    """Let ``task`` run until it waits in ``prepare`` for the base's setup (a few loop turns)."""
    for _ in range(100):
        if "prepare" in awaiting(task):
            return
        await asyncio.sleep(0)  # one turn of the loop, no time: the task runs up to its next wait
    raise AssertionError(f"the call never waited for the setup: {awaiting(task)}")


async def refused_within_the_setup_wait(call: Any) -> str:
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as raised:
        await asyncio.wait_for(call, OUTER)
    assert time.monotonic() - started < BOUND
    return raised.value.detail


async def test_the_hub_starts_within_the_setup_wait_while_a_base_setup_hangs(short_space: KnowledgeSpace) -> None:
    setups = GatedSetups()
    started = time.monotonic()

    hub = await asyncio.wait_for(short_space.open(open_store=setups), OUTER)

    assert time.monotonic() - started < BOUND
    assert not hub["docs"].prepared
    assert setups.begun == 1


async def test_a_request_waits_for_a_hung_setup_at_most_the_setup_wait_and_names_the_base(
    short_space: KnowledgeSpace,
) -> None:
    setups = GatedSetups()
    hub = await asyncio.wait_for(short_space.open(open_store=setups), OUTER)
    docs = hub["docs"]

    detail = await refused_within_the_setup_wait(docs.list())
    searched = await refused_within_the_setup_wait(docs.search("badges"))

    assert "knowledge base 'docs': database 'kb-db' has not finished setting up its tables within 1.2 s" in detail
    assert "try again shortly" in searched
    assert setups.begun == 1  # each call waited for the setup the start began, none began another


async def test_once_the_hung_setup_ends_the_base_serves_without_setting_up_again(short_space: KnowledgeSpace) -> None:
    setups = GatedSetups()
    hub = await asyncio.wait_for(short_space.open(open_store=setups), OUTER)
    docs = hub["docs"]
    await refused_within_the_setup_wait(docs.list())

    setups.gate.set()
    added = await asyncio.wait_for(docs.add(Upload(text="Badges are issued at the reception desk.")), OUTER)

    assert docs.prepared
    assert [content.id for content in (await docs.list())[0]] == [added.id]
    assert setups.begun == 1


async def test_a_setup_that_failed_is_begun_again_by_a_later_call(short_space: KnowledgeSpace) -> None:
    setups = GatedSetups()
    setups.fail_with = StorageUnavailable("database 'kb-db' is unavailable")
    hub = await asyncio.wait_for(short_space.open(open_store=setups), OUTER)
    docs = hub["docs"]
    await refused_within_the_setup_wait(docs.list())
    setups.gate.set()

    await asyncio.wait_for(hub.sweep(), OUTER)  # the maintenance loop, after (or while) the first setup fails

    assert docs.prepared
    assert await docs.list() == ([], 0)
    assert setups.begun == 2


async def test_a_caller_cancelled_while_waiting_leaves_the_setup_running(short_space: KnowledgeSpace) -> None:
    setups = GatedSetups()
    hub = await asyncio.wait_for(short_space.open(open_store=setups), OUTER)
    docs = hub["docs"]
    waiting = asyncio.ensure_future(docs.list())
    await waiting_for_the_setup(waiting)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    setups.gate.set()

    assert await asyncio.wait_for(docs.list(), OUTER) == ([], 0)
    assert setups.begun == 1


async def test_closing_the_hub_ends_a_setup_still_waiting(short_space: KnowledgeSpace) -> None:
    setups = GatedSetups()
    hub = await asyncio.wait_for(short_space.open(open_store=setups), OUTER)
    short_space.hubs.remove(hub)

    await asyncio.wait_for(hub.close(), OUTER)

    assert not hub["docs"].prepared


async def test_on_postgresql_that_stopped_answering_the_start_and_requests_are_bounded_and_the_base_serves_once_it_answers(
    tmp_path: Path,
) -> None:
    proxy = pgvector_proxy()
    await proxy.start()
    schema = unique_name("kbsetup")
    database = DatabaseConfig.model_validate(
        {"id": "frozen-kb", "type": "postgres", "db_schema": schema, "timeout_seconds": TIMEOUT}
    )
    space = KnowledgeSpace("postgres", database, {"DATABASE_URL": proxied(proxy.port)}, tmp_path / "data")
    space.data_dir.mkdir(parents=True)
    proxy.freeze()
    try:
        started = time.monotonic()
        hub = await asyncio.wait_for(space.open(space.base(vector_index="hnsw")), OUTER)
        assert time.monotonic() - started < BOUND
        docs = hub["docs"]

        detail = await refused_within_the_setup_wait(docs.search("badges"))
        assert "database 'frozen-kb'" in detail
        assert str(proxy.port) not in detail and "127.0.0.1" not in detail

        proxy.thaw()
        await asyncio.wait_for(docs.add(Upload(text="Badges are issued at the reception desk.")), OUTER)
        await asyncio.wait_for(hub.wait_idle(), OUTER)
        (hit,) = await asyncio.wait_for(docs.search("badges", max_results=1), OUTER)
        assert "reception desk" in hit.content
    finally:
        proxy.thaw()
        for hub in space.hubs:
            await hub.close()
        await proxy.stop()
        await drop_schema(schema)


async def test_closing_the_hub_waits_no_longer_than_one_setup_wait_for_setups_that_do_not_let_go(
    short_space: KnowledgeSpace,
) -> None:
    setups = GatedSetups()
    setups.stubborn = True
    bases = [short_space.base(base_id) for base_id in ("docs", "faq", "policies")]
    hub = await asyncio.wait_for(short_space.open(*bases, open_store=setups), OUTER)
    assert setups.active == 3
    short_space.hubs.remove(hub)
    started = time.monotonic()

    await asyncio.wait_for(hub.close(), OUTER)

    assert time.monotonic() - started < BOUND
    setups.gate.set()  # lets the stubborn setup end before the test's loop closes


async def test_a_setup_that_ends_after_the_start_gave_up_on_it_finishes_the_start_at_once(
    short_space: KnowledgeSpace, tmp_path: Path
) -> None:
    (tmp_path / "faq.txt").write_text("Badges are issued at the reception desk.")
    setups = GatedSetups()
    base = short_space.base(sources=[{"path": str(tmp_path / "faq.txt")}])
    hub = await asyncio.wait_for(short_space.open(base, open_store=setups), OUTER)
    assert list(hub.unavailable()) == ["docs"]

    setups.gate.set()
    await asyncio.wait_for(hub["docs"].prepare(), OUTER)  # until the setup ends; no sweep follows
    await asyncio.wait_for(hub.wait_idle(), OUTER)  # what the setup's end started

    assert hub.unavailable() == {}
    (faq,) = (await hub["docs"].list())[0]
    assert (faq.name, faq.status) == ("faq.txt", "completed")


async def test_the_setups_of_one_database_run_a_few_at_once_each_holding_a_connection(
    short_space: KnowledgeSpace,
) -> None:
    setups = GatedSetups()
    bases = [short_space.base(f"base-{n}") for n in range(SETUPS_AT_ONCE + 2)]
    hub = await asyncio.wait_for(short_space.open(*bases, open_store=setups), OUTER)
    assert setups.begun == SETUPS_AT_ONCE  # the others wait for a slot

    setups.gate.set()
    await asyncio.wait_for(asyncio.gather(*(hub[base.id].prepare() for base in bases)), OUTER)
    await asyncio.wait_for(hub.wait_idle(), OUTER)

    assert setups.begun == len(bases) and setups.most_active == SETUPS_AT_ONCE
    assert all(hub[base.id].prepared for base in bases) and hub.unavailable() == {}


async def test_a_request_waiting_on_a_setup_that_closing_cancels_is_told_the_base_closed(
    short_space: KnowledgeSpace,
) -> None:
    setups = GatedSetups()
    hub = await asyncio.wait_for(short_space.open(open_store=setups), OUTER)
    short_space.hubs.remove(hub)
    waiting = asyncio.ensure_future(hub["docs"].list())
    await waiting_for_the_setup(waiting)

    await asyncio.wait_for(hub.close(), OUTER)

    with pytest.raises(StorageUnavailable) as closed:
        await asyncio.wait_for(waiting, OUTER)
    assert closed.value.detail == "knowledge base 'docs' was closed before its setup ended"
