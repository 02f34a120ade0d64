"""The runtime's knowledge bases, open: started with the runtime, kept alive, closed with it.

``open_knowledge`` builds one ``KnowledgeBase`` per declared base (its store on its database,
its embedder) and ``KnowledgeHub.start`` readies them: tables created, contents left
``processing`` by a runtime that stopped resumed or failed, configured sources loaded in the
background (start-up never waits for an embedding). A base whose database is down at start,
or whose setup (``KnowledgeBase.prepare``) has not ended within its database's
``timeout_seconds`` and grace, is started again by the hub's maintenance loop once it answers;
a content that failed for a reason that passes (the embeddings endpoint not up yet) is retried
by its base (``knowledge.retrying``).

Several replicas share a database, so a content another replica is processing must not be
touched: the replica processing a content refreshes its ``updated_at`` every
``heartbeat_seconds`` (its lease); a ``processing`` row whose lease is older than
``lease_seconds`` belongs to a replica that stopped, and is resumed (a URL or configured
source: fetched or read again) or failed with a reason (an upload: its bytes are gone). Two
replicas may both resume the same row; the content ends the same either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.config.knowledge import EmbedderConfig, KnowledgeBaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.base import KnowledgeBase, Schedule, call_later
from agentos_runtime.knowledge.ingestion import (
    DEFAULT_CONCURRENCY,
    MAX_HELD_BYTES,
    Clock,
    IngestionQueue,
    resumable_payload,
)
from agentos_runtime.knowledge.metrics import KnowledgeMetrics
from agentos_runtime.knowledge.ports import Embedder, KnowledgeStore
from agentos_runtime.knowledge.stores.checking import IncompatibleStore
from agentos_runtime.storage.sql.deadline import client_seconds

logger = logging.getLogger("agentos_runtime.knowledge")

# Every this many seconds a replica refreshes the heartbeat of the contents it processes...
HEARTBEAT_SECONDS = 10.0
# ...and a content whose heartbeat is older than this is taken for abandoned (six missed beats:
# a replica under load, or a slow database write, is not mistaken for a dead one).
LEASE_SECONDS = 60.0
RESTARTED_MESSAGE = (
    "processing stopped without ending (the runtime processing it stopped, or its database was away "
    "as it ended); upload it again"
)
# Setups of one database's bases run at once at most (each holds a connection of its pool).
SETUPS_AT_ONCE = 4

StoreOpener = Callable[..., Awaitable[KnowledgeStore]]
EmbedderBuilder = Callable[[EmbedderConfig, Mapping[str, str]], Embedder]


def knowledge_db_id(base: KnowledgeBaseConfig, default_db_id: str) -> str:
    """The database holding ``base``: its ``db``, else the runtime's default database."""
    return base.db or default_db_id


class KnowledgeHub(Mapping[str, KnowledgeBase]):
    """Every open knowledge base by id, in declaration order, and their background work."""

    def __init__(
        self,
        bases: Sequence[KnowledgeBase],
        *,
        queue: IngestionQueue,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        self._bases = {base.id: base for base in bases}
        self._queue = queue
        self.heartbeat_seconds = heartbeat_seconds
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._maintenance: asyncio.Task[None] | None = None
        self._swept = clock()
        """When stale contents were last looked for."""
        self._started: set[str] = set()
        """Bases whose database has answered this hub once (their start-up work is done or due)."""
        self._unavailable: dict[str, str] = {}
        """Bases whose database failed the last time they were started or swept, and why."""
        self._sources_due: set[str] = set()
        """Bases whose configured sources are to be loaded (again)."""

        self._starting: dict[str, asyncio.Lock] = {base.id: asyncio.Lock() for base in bases}
        """One start of each base at a time (the start, the sweeps, a setup that ended late)."""
        for base in bases:
            base.on_set_up = functools.partial(self._set_up_late, base)

    def __getitem__(self, base_id: str) -> KnowledgeBase:
        return self._bases[base_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._bases)

    def __len__(self) -> int:
        return len(self._bases)

    async def start(self, *, maintain: bool = True) -> None:
        """Ready every base whose database answers (the others are retried by the maintenance
        loop); ``maintain``: run the heartbeat and stale-content loop (tests drive it by hand).

        Every store is opened before any is prepared, so the first ``prepare`` of a database
        knows all its bases: a contents table dropped while the runtime was down is made again
        in one transaction with the deletion of the chunks of what it held, from each of them."""
        unopened: dict[str, StorageUnavailable] = {}
        for base in self._bases.values():
            try:
                await base.open()
            except StorageUnavailable as error:
                unopened[base.id] = error
        for base in self._bases.values():
            self._queue.spawn(_prepare_embedder(base), name=f"knowledge {base.id}: embedder")
            if base.id in unopened:  # retried by the maintenance loop's sweep, as a failed start
                self._report_down(base, unopened[base.id])
        # Together: each waits for its setup at most its setup wait, however many bases a database holds.
        starting = [self.start_base(base) for base in self._bases.values() if base.id not in unopened]
        for outcome in await asyncio.gather(*starting, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
        self._swept = self.clock()
        if maintain and self._maintenance is None:
            self._maintenance = asyncio.get_running_loop().create_task(self._maintain(), name="knowledge maintenance")

    async def start_base(self, base: KnowledgeBase) -> bool:
        """Prepare ``base``'s store (once, when its database first answers), resume or fail the
        contents a stopped replica left, read its counts into the metrics, and load its sources
        in the background when they are due (first start, or a load the database broke off).
        ``False`` while the database is down (retried by the next sweep)."""
        async with self._starting[base.id]:
            return await self._start_base(base)

    async def _start_base(self, base: KnowledgeBase) -> bool:
        try:
            await base.prepare()
            if base.id not in self._started:
                self._started.add(base.id)
                if base.config.sources:
                    self._sources_due.add(base.id)
            await self.sweep_base(base)
            await base.refresh_counts()
        except StorageUnavailable as error:
            self._report_down(base, error)
            return False
        if self._unavailable.pop(base.id, None) is not None:
            logger.info("knowledge base %s: database %s answers again", base.id, base.db_id)
        if base.id in self._sources_due:
            self._sources_due.discard(base.id)
            self._queue.spawn(self._load_sources(base), name=f"knowledge {base.id}: sources")
        return True

    def _set_up_late(self, base: KnowledgeBase) -> None:
        """A base's setup ended after its start (or a sweep) gave up waiting for it: the rest of
        its start now, not at the next sweep (its sources, its counts, ``/ready``'s reason)."""
        if base.id in self._unavailable:
            self._queue.spawn(self.start_base(base), name=f"knowledge {base.id}: start")

    def unavailable(self) -> dict[str, str]:
        """The bases whose database failed them the last time they were started or swept (down,
        unable to hold them as configured, or their setup not ended within its wait), and why
        (the database named by its id only): what ``/ready`` shows."""
        return dict(self._unavailable)

    def _report_down(self, base: KnowledgeBase, error: StorageUnavailable) -> None:
        """Note why a base's database failed it, and log it once per outage (sweeps retry every half lease); a
        database that cannot hold the base as configured (no pgvector, other dimensions) is an
        ERROR: it needs a change, not patience."""
        first = base.id not in self._unavailable
        self._unavailable[base.id] = error.detail
        if not first:
            return
        if isinstance(error, IncompatibleStore):
            logger.error("knowledge base %s cannot be opened: %s", base.id, error.detail)
        else:
            logger.warning(
                "knowledge base %s: database %s unavailable, retrying: %s", base.id, base.db_id, error.detail
            )

    async def _load_sources(self, base: KnowledgeBase) -> None:
        from agentos_runtime.knowledge.sources import load_sources

        try:
            await load_sources(base, lease_seconds=self.lease_seconds)
        except StorageUnavailable as error:
            logger.warning("knowledge base %s: loading its sources stopped, retrying: %s", base.id, error.detail)
            self._sources_due.add(base.id)

    async def heartbeat(self) -> None:
        """Refresh the lease of every content this replica has queued or is processing."""
        now = int(self.clock())
        for base in self._bases.values():
            if not base.pending:
                continue
            try:
                await base.store.touch_contents(sorted(base.pending), updated_at=now)
            except StorageUnavailable as error:
                logger.warning("knowledge base %s: heartbeat not written: %s", base.id, error.detail)

    async def sweep(self) -> None:
        """Start the bases not started yet, resume or fail the contents whose lease ran out,
        refresh the counts (another replica's changes), retry source loads that were broken off."""
        for base in self._bases.values():
            await self.start_base(base)

    async def sweep_base(self, base: KnowledgeBase) -> None:
        """Resume or fail ``base``'s contents left ``processing`` by a replica that stopped."""
        stale = await base.store.stale_contents(updated_before=int(self.clock() - self.lease_seconds))
        for content in stale:
            if content.id in base.pending:
                continue  # ours: its heartbeat is merely late
            payload = resumable_payload(content)
            if payload is None:
                logger.warning("knowledge base %s: content %s was left processing: failed", base.id, content.id)
                await base.store.fail_content(content.id, RESTARTED_MESSAGE, updated_at=int(self.clock()))
                continue
            logger.info("knowledge base %s: content %s was left processing: processing it again", base.id, content.id)
            await base.store.touch_contents([content.id], updated_at=int(self.clock()))
            base.process(content, payload)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.heartbeat()
                if self.clock() - self._swept >= self.lease_seconds / 2:
                    self._swept = self.clock()
                    await self.sweep()
            except Exception:  # the loop must outlive one bad round; the next one tries again
                logger.exception("knowledge maintenance failed")

    async def wait_idle(self) -> None:
        """Until every queued content and source load has ended."""
        await self._queue.wait_idle()

    async def close(self) -> None:
        """Stop the background work (contents in progress stay ``processing`` and are taken up
        again once their lease runs out), then close every store and embedder."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        await self._queue.close()
        for base in self._bases.values():  # every setup cancelled at once: their ends are awaited together
            base.cancel_setup()
        for base in self._bases.values():
            try:
                await base.close()
            except Exception:  # shutdown: closing the others matters more than one failure
                logger.exception("closing knowledge base %s failed", base.id)


async def _prepare_embedder(base: KnowledgeBase) -> None:
    """Build the embedder's client in a worker thread (the SDK's import and TLS set-up take
    a few hundred milliseconds), so the first search does not do it on the event loop. A
    failure is only logged: the first embedding reports it properly."""
    prepare = getattr(base.embedder, "prepare", None)
    if not callable(prepare):
        return
    try:
        await asyncio.to_thread(prepare)
    except Exception as error:  # background warm-up: the request path raises the real error later
        logger.warning("knowledge base %s: preparing the embedder failed: %s", base.id, type(error).__name__)


async def open_knowledge(
    config_bases: Sequence[KnowledgeBaseConfig],
    databases: Sequence[DatabaseConfig],
    *,
    default_db_id: str,
    environ: Mapping[str, str],
    data_dir: Path,
    metrics: KnowledgeMetrics | None = None,
    open_store: StoreOpener | None = None,
    build_embedder: EmbedderBuilder | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_held_bytes: int = MAX_HELD_BYTES,
    clock: Clock = time.time,
    schedule: Schedule = call_later,
) -> KnowledgeHub | None:
    """The hub of the declared bases (``None`` when there is none), not started; on failure
    what was opened is closed. ``open_store`` and ``build_embedder`` default to the real ones;
    ``schedule`` times the retries of contents that failed transiently."""
    if not config_bases:
        return None
    open_store = open_store or _real_store_opener()
    build_embedder = build_embedder or _real_embedder_builder()
    by_id = {database.id: database for database in databases}
    queue = IngestionQueue(concurrency=concurrency, max_held_bytes=max_held_bytes)
    measured = metrics or KnowledgeMetrics()
    slots: dict[str, asyncio.Semaphore] = {}
    bases: list[KnowledgeBase] = []
    try:
        for base_config in config_bases:
            database = by_id[knowledge_db_id(base_config, default_db_id)]
            bases.append(
                KnowledgeBase(
                    base_config,
                    db_id=database.id,
                    open_store=_opener(open_store, base_config, database, environ, data_dir),
                    embedder=build_embedder(base_config.embedder, environ),
                    queue=queue,
                    metrics=measured,
                    contents_table=database.tables.knowledge,
                    clock=clock,
                    schedule=schedule,
                    setup_wait=client_seconds(database.timeout_seconds),
                    setup_slots=slots.setdefault(database.id, asyncio.Semaphore(SETUPS_AT_ONCE)),
                )
            )
    except BaseException:
        for base in bases:
            await base.close()
        raise
    return KnowledgeHub(bases, queue=queue, clock=clock)


def _opener(
    open_store: StoreOpener,
    base: KnowledgeBaseConfig,
    database: DatabaseConfig,
    environ: Mapping[str, str],
    data_dir: Path,
) -> Callable[[], Awaitable[KnowledgeStore]]:
    def opener() -> Awaitable[KnowledgeStore]:
        return open_store(base, database, environ=environ, data_dir=data_dir)

    return opener


def _real_store_opener() -> StoreOpener:
    from agentos_runtime.knowledge.stores.opening import open_knowledge_store

    return open_knowledge_store


def _real_embedder_builder() -> EmbedderBuilder:
    from agentos_runtime.knowledge.embedding import build_embedder

    return build_embedder
