"""A knowledge base: its contents, how they are added, and how it is searched.

``KnowledgeBase.add`` checks an upload before anything is stored (a file too large: 413; of a
type no reader handles: 415; a URL on a host the base does not allow, or nothing to read:
400, each message naming the request's field: ``file``, ``text_content`` or ``url``), stores
its row ``processing`` and leaves reading, chunking and embedding to the background
(``ingestion``). ``search`` embeds the query and asks the store for the nearest chunks: what
runs call through ``ports.KnowledgeSearch``.

Searches leave a content's ``access_count`` as it is, as Agno's own search does.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from agentos_runtime.config.knowledge import ChunkingSettings, KnowledgeBaseConfig
from agentos_runtime.errors import AgentOSError, BadRequest, Conflict, NotFound, StorageUnavailable
from agentos_runtime.knowledge.ingestion import Clock, IngestionQueue, Payload, Pipeline, resumable_payload
from agentos_runtime.knowledge.metrics import KnowledgeMetrics
from agentos_runtime.knowledge.ports import Embedder, KnowledgeStore, SortField
from agentos_runtime.knowledge.reading import (
    ContentTooLarge,
    UnsupportedContent,
    clean_text,
    detect_type,
    format_size,
)
from agentos_runtime.knowledge.records import Content, SearchHit, clipped_name
from agentos_runtime.knowledge.retrying import next_retry, retry_note
from agentos_runtime.knowledge.sources import check_content_url, public_url

logger = logging.getLogger("agentos_runtime.knowledge")

StoreOpener = Callable[[], Awaitable[KnowledgeStore]]


class Timer(Protocol):
    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], Timer]
"""Call a function in so many seconds (``loop.call_later``; tests pass their own)."""


def call_later(delay: float, callback: Callable[[], None]) -> Timer:
    return asyncio.get_running_loop().call_later(delay, callback)


# A text content without a name is named after its first line, cut to this many characters.
TEXT_NAME_CHARS = 80


@dataclass(frozen=True)
class Upload:
    """Content to add: exactly one of ``data`` (a file's bytes), ``text`` or ``url``."""

    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    data: bytes | None = None
    text: str | None = None
    url: str | None = None
    filename: str | None = None
    content_type: str | None = None
    chunking: ChunkingSettings | None = None
    """How to chunk this content; the base's ``chunking`` when ``None``."""
    user_id: str | None = None
    """The user it is uploaded for (only they, and admins, see it); ``None``: shared with every user."""


@dataclass(frozen=True)
class CheckedUpload:
    """An upload found acceptable: the row's name, type and size, and what processing reads."""

    name: str
    type: str
    size: int | None
    payload: Payload


def check_upload(upload: Upload, config: KnowledgeBaseConfig) -> CheckedUpload:
    """Decide whether ``upload`` can be added to a base of ``config``, without reading it.

    Raises ``BadRequest`` (400: not exactly one of file, text and URL; empty; a URL the base
    may not fetch), ``ContentTooLarge`` (413) or ``UnsupportedContent`` (415), each naming the
    request field."""
    given = [
        kind
        for kind, value in (("file", upload.data), ("text_content", upload.text), ("url", upload.url))
        if value is not None
    ]
    if len(given) != 1:
        named = f" (got {', '.join(given)})" if given else ""
        raise BadRequest(f"provide exactly one of file, text_content or url{named}")
    limit = config.max_content_bytes
    if upload.data is not None:
        check_size("file", len(upload.data), limit)
        if not upload.data:
            raise BadRequest("file: the file is empty")
        try:
            kind = detect_type(upload.data, filename=upload.filename, content_type=upload.content_type)
        except UnsupportedContent as error:
            raise UnsupportedContent(f"file: {error.detail}") from None
        name = upload.name or upload.filename or f"upload.{kind}"
        payload = Payload(data=upload.data, filename=upload.filename, content_type=upload.content_type)
        return CheckedUpload(name, kind, len(upload.data), payload)
    if upload.text is not None:
        text = clean_text(upload.text)
        data = text.encode("utf-8")
        check_size("text_content", len(data), limit)
        if not text.strip():
            raise BadRequest("text_content: the text is empty")
        # The first line of the first TEXT_NAME_CHARS characters is the first line cut to them:
        # splitting the whole text would hold a string per line (20 times the text in memory).
        name = upload.name or text.strip()[:TEXT_NAME_CHARS].splitlines()[0]
        return CheckedUpload(name, "text", len(data), Payload(data=data, content_type="text/plain; charset=utf-8"))
    url = (upload.url or "").strip()
    if not url:
        raise BadRequest("url: the URL is empty")
    check_content_url(url, config.allowed_hosts, field="url")
    return CheckedUpload(upload.name or clipped_name(public_url(url)), "url", None, Payload(url=url))


# The longest search query, from the API or from a model's ``search_knowledge_base`` call.
MAX_QUERY_LENGTH = 32_768


def check_size(field_name: str, size: int, limit: int) -> None:
    """``ContentTooLarge`` (413) naming ``field_name`` when ``size`` bytes are over ``limit``."""
    if size > limit:
        given, allowed = format_size(size), format_size(limit)
        if given == allowed:  # rounded alike: say it in bytes
            given, allowed = f"{size:,} bytes", f"{limit:,} bytes"
        raise ContentTooLarge(
            f"{field_name}: {given} is over the knowledge base's limit of {allowed} "
            "(max_content_bytes): upload a smaller document or raise the limit"
        )


class KnowledgeBase:
    """One declared knowledge base, open: its store, its embedder, and background processing."""

    def __init__(
        self,
        config: KnowledgeBaseConfig,
        *,
        db_id: str,
        open_store: StoreOpener,
        embedder: Embedder,
        queue: IngestionQueue,
        metrics: KnowledgeMetrics,
        contents_table: str,
        setup_wait: float,
        clock: Clock = time.time,
        schedule: Schedule = call_later,
        jitter: Callable[[], float] = random.random,
        setup_slots: asyncio.Semaphore | None = None,
    ) -> None:
        """``schedule`` and ``jitter`` time the retries of transiently failed contents
        (``knowledge.retrying``); ``setup_wait``: how long an operation waits for the store's
        setup (``prepare``) before answering ``StorageUnavailable``, and ``close`` for a setup it cancelled;
        ``setup_slots``: shared by the bases of one database, how many of their setups run at once
        (each holds a connection for as long as it runs, perhaps behind another replica's lock)."""
        self.config = config
        self.id = config.id
        self.name = config.display_name
        self.description = config.description
        self.db_id = db_id
        self.table = contents_table
        """The contents table (shared by the bases of the database); chunks are in ``config.table_name``."""
        self.max_results = config.max_results
        self.embedder = embedder
        self.metrics = metrics
        self.clock = clock
        self.pending: set[str] = set()
        """Ids of the contents this replica has queued or is processing (their heartbeat)."""
        self._queue = queue
        self._open_store = open_store
        self._store: KnowledgeStore | None = None
        self._pipeline: Pipeline | None = None
        self._prepared = False
        self._preparing = asyncio.Lock()
        self._setup_wait = setup_wait
        self._setup_slots = setup_slots
        self._setting_up: asyncio.Task[None] | None = None
        """The store's setup in progress (or ended), which every operation waits for in turn."""
        self.on_set_up: Callable[[], None] | None = None
        """Called once a setup succeeds (the hub finishes a start that gave up waiting for it)."""
        self._schedule = schedule
        self._jitter = jitter
        self._attempts: dict[str, int] = {}
        """Retries made of each content failing transiently, by id (none once it completes)."""
        self._retries: dict[str, Timer] = {}
        """The retry due of each content, by id."""

    @property
    def store(self) -> KnowledgeStore:
        """The open store; ``StorageUnavailable`` until its database has answered once."""
        if self._store is None:
            raise StorageUnavailable(f"knowledge base '{self.id}': database '{self.db_id}' has not answered yet")
        return self._store

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = Pipeline(self.config, self.store, self.embedder, self.metrics, self.clock)
        return self._pipeline

    async def open(self) -> None:
        """Open the store (once; nothing connects yet): from then on the first ``prepare`` of
        any base of its database knows this one. Raises ``StorageUnavailable`` when the
        database cannot hold knowledge or its URL variable is unset."""
        async with self._preparing:
            await self._opened()

    async def prepare(self) -> None:
        """Open the store and create its tables if missing (once; every operation calls it).
        Raises ``StorageUnavailable`` while the database is down, and when the setup has not
        ended within ``setup_wait`` (a database that stopped answering, another replica's long
        index build holding the lock): the setup goes on in the background, unbounded as its
        index build must be, and the next call waits for that same setup, never a second one.
        A caller cancelled (a client gone) leaves the setup running too."""
        if self._prepared:
            return
        setup = self._setting_up
        if setup is None or setup.done():
            setup = self._setting_up = asyncio.get_running_loop().create_task(
                self._set_up(), name=f"knowledge {self.id}: setup"
            )
            setup.add_done_callback(self._setup_ended)
        done, _ = await asyncio.wait({setup}, timeout=self._setup_wait)
        if not done:
            raise StorageUnavailable(
                f"knowledge base '{self.id}': database '{self.db_id}' has not finished setting up its tables "
                f"within {self._setup_wait:g} s; the setup goes on: try again shortly"
            )
        if setup.cancelled():  # by ``close``: this caller was not cancelled itself
            raise StorageUnavailable(f"knowledge base '{self.id}' was closed before its setup ended")
        setup.result()

    async def _set_up(self) -> None:
        async with contextlib.AsyncExitStack() as slot:
            if self._setup_slots is not None:
                await slot.enter_async_context(self._setup_slots)
            async with self._preparing:
                if self._prepared:
                    return
                await (await self._opened()).prepare()
                self._prepared = True

    def _setup_ended(self, setup: asyncio.Task[None]) -> None:
        """A setup ended: once it succeeded ``on_set_up`` is told (perhaps after every caller
        stopped waiting); a failure is the next call's to meet again (a new setup), and one that
        is not a described failure is logged too, not lost."""
        if setup.cancelled():
            return
        error = setup.exception()
        if error is None:
            if self.on_set_up is not None:
                self.on_set_up()
        elif not isinstance(error, AgentOSError):
            logger.error("knowledge base %s: setting up its store failed", self.id, exc_info=error)

    def cancel_setup(self) -> None:
        """Cancel a setup in progress (``close`` waits for it to end)."""
        if self._setting_up is not None:
            self._setting_up.cancel()

    async def _opened(self) -> KnowledgeStore:
        """The store, opened when it is not yet (``_preparing`` held)."""
        if self._store is None:
            self._store = await self._open_store()
        return self._store

    @property
    def prepared(self) -> bool:
        return self._prepared

    async def close(self) -> None:
        """Cancel the retries due and a setup in progress, close the store (when it was opened)
        and the embedder."""
        for content_id in list(self._retries):
            self._forget_retry(content_id)
        setup = self._setting_up
        if setup is not None and not setup.done():
            setup.cancel()
            # At most its wait: a database that stopped answering may hold the cancellation too.
            await asyncio.wait({setup}, timeout=self._setup_wait)
        try:
            if self._store is not None:
                await self._store.close()
        finally:
            await self.embedder.close()

    async def add(self, upload: Upload) -> Content:
        """Store ``upload`` as a ``processing`` content and process it in the background."""
        checked = check_upload(upload, self.config)
        await self.prepare()
        now = int(self.clock())
        content = Content(
            id=str(uuid.uuid4()),
            name=checked.name,
            linked_to=self.id,
            description=upload.description,
            type=checked.type,
            size=checked.size,
            metadata=dict(upload.metadata),
            status="processing",
            created_at=now,
            updated_at=now,
            external_id=checked.payload.url,
            user_id=upload.user_id,
        )
        held = len(checked.payload.data) if checked.payload.data is not None else 0
        self._queue.reserve(held)  # ``Busy`` before anything is stored
        try:
            await self.store.add_content(content)
        except BaseException:
            self._queue.release(held)
            raise
        self.process(content, checked.payload, upload.chunking, held=held)
        return replace(content)

    def process(
        self, content: Content, payload: Payload, chunking: ChunkingSettings | None = None, *, held: int = 0
    ) -> None:
        """Queue ``content`` (stored ``processing``) for reading, chunking and embedding; ``held``
        bytes of it were reserved on the queue."""
        self.pending.add(content.id)
        self.metrics.processing.set((self.id,), len(self.pending))
        settings = chunking or self.config.chunking

        def after_failure(error: Exception) -> str:
            return self.retry_later(content, error, settings)

        async def job() -> None:
            try:
                if await self.pipeline.process(content, payload, settings, after_failure=after_failure):
                    self._attempts.pop(content.id, None)
            finally:
                self.pending.discard(content.id)
                self.metrics.processing.set((self.id,), len(self.pending))
                if not self.pending:
                    # Counting reads the whole base: once a batch is done, not per content
                    # (per content, a bulk load would slow down as the base grows).
                    await self.refresh_counts()

        self._queue.submit(job, name=f"knowledge {self.id}: content {content.id}", held=held)

    def retry_later(self, content: Content, error: BaseException, chunking: ChunkingSettings | None = None) -> str:
        """Schedule processing ``content`` again when it failed with a transient ``error`` and
        its origin can be read again (``retrying.next_retry``); what its status message adds
        (empty when it is not retried)."""
        self._forget_retry(content.id, attempts=False)
        attempt = self._attempts.get(content.id, 0) + 1
        delay = next_retry(
            error, resumable=resumable_payload(content) is not None, attempt=attempt, jitter=self._jitter()
        )
        if delay is None:
            self._attempts.pop(content.id, None)
            return ""
        self._attempts[content.id] = attempt

        def due() -> None:
            self._retries.pop(content.id, None)
            self._queue.spawn(self._retry(content.id, chunking), name=f"knowledge {self.id}: retry {content.id}")

        self._retries[content.id] = self._schedule(delay, due)
        return retry_note(attempt, self.clock() + delay)

    def _forget_retry(self, content_id: str, *, attempts: bool = True) -> None:
        """Cancel the retry due of ``content_id`` (and, with ``attempts``, forget how many were made)."""
        timer = self._retries.pop(content_id, None)
        if timer is not None:
            timer.cancel()
        if attempts:
            self._attempts.pop(content_id, None)

    @property
    def retries_due(self) -> builtins.list[str]:
        """Ids of the contents whose retry is scheduled."""
        return sorted(self._retries)

    async def _retry(self, content_id: str, chunking: ChunkingSettings | None) -> None:
        """Process the content again if it is still as its failure left it: failed, not being
        processed (a refresh, another replica), not deleted."""
        content: Content | None = None
        try:
            content = await self.store.get_content(content_id)
            if content is None or content.status != "failed" or content_id in self.pending:
                self._attempts.pop(content_id, None)
                return
            payload = resumable_payload(content)
            if payload is None:
                return
            self.pending.add(content_id)
            content.status, content.status_message = "processing", None
            content.updated_at = max(int(self.clock()), content.updated_at)
            if not await self.store.restart_content(content_id, updated_at=content.updated_at):
                self.pending.discard(content_id)
                return
        except StorageUnavailable as error:  # the database down: as transient as the failure
            self.pending.discard(content_id)
            logger.warning("knowledge base %s: retrying content %s: %s", self.id, content_id, error.detail)
            if content is not None:
                self.retry_later(content, error, chunking)
            return
        logger.info("knowledge base %s: processing content %s again", self.id, content_id)
        self.process(content, payload, chunking)

    async def get(self, content_id: str, *, user_id: str | None = None) -> Content:
        """The content (``user_id``'s or a shared one, when given), or ``NotFound``."""
        await self.prepare()
        content = await self.store.get_content(content_id, user_id=user_id)
        if content is None:
            raise NotFound(f"content '{content_id}' not found in knowledge base '{self.id}'")
        return content

    async def refresh(self, content_id: str) -> Content:
        """Process a URL's (or a configured source file's) content again; its chunks are replaced
        once the new ones are embedded. ``NotFound``; ``BadRequest`` for an upload (its bytes
        are gone); ``Conflict`` while it is being processed."""
        content = await self.get(content_id)
        payload = resumable_payload(content)
        if payload is None:
            raise BadRequest("Content has no source URL to refresh from: upload it again instead")
        if content.id in self.pending:
            raise Conflict(f"Content {content_id} is being processed: refresh it once it is completed or failed")
        # Taken before the next await: refreshes sent at once would all pass the check above
        # and each fetch and embed the content again.
        self.pending.add(content.id)
        self._forget_retry(content.id)
        content.status, content.status_message = "processing", None
        content.updated_at = max(int(self.clock()), content.updated_at)
        try:
            # Only the status: an edit since the read above keeps its name and metadata.
            stored = await self.store.restart_content(content.id, updated_at=content.updated_at)
        except BaseException:
            self.pending.discard(content.id)
            raise
        if not stored:
            self.pending.discard(content.id)
            raise NotFound(f"content '{content_id}' not found in knowledge base '{self.id}'")
        self.process(content, payload)
        return content

    async def status(self, content_id: str, *, user_id: str | None = None) -> Content:
        """The content, for its ``status`` and ``status_message``; ``NotFound``."""
        return await self.get(content_id, user_id=user_id)

    async def list(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        sort_by: SortField = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
        user_id: str | None = None,
    ) -> tuple[builtins.list[Content], int]:
        """One page (1-based) of the contents (``user_id``'s and shared ones, when given), and how many there are."""
        if page < 1 or limit < 1:
            raise BadRequest("page and limit must be at least 1")
        await self.prepare()
        return await self.store.list_contents(
            page=page, limit=limit, sort_by=sort_by, sort_order=sort_order, user_id=user_id
        )

    async def update(
        self,
        content_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Content:
        """Change the name, description or metadata (what is ``None`` stays); ``NotFound``.

        ``metadata`` is merged into the content's, as Agno does: each key it names is replaced,
        the others are kept; its chunks take the new keys too, so searches filter on them. The
        status is left to processing, which may end between the read and the write: the
        content as stored after the edit is returned."""
        content = await self.get(content_id)
        if name is not None:
            if not name.strip():
                raise BadRequest("name: must not be empty")
            content.name = name
        if description is not None:
            content.description = description
        content.updated_at = max(int(self.clock()), content.updated_at)
        if not await self.store.edit_content(content, metadata=metadata):
            raise NotFound(f"content '{content_id}' not found in knowledge base '{self.id}'")
        return await self.get(content_id)

    async def delete(self, content_id: str) -> None:
        """Delete the content and its chunks; ``NotFound`` when there is none. Its reading, when
        this replica is reading it, stops at its next check."""
        await self.prepare()
        if not await self.store.delete_content(content_id):
            raise NotFound(f"content '{content_id}' not found in knowledge base '{self.id}'")
        self._forget_retry(content_id)
        self.pipeline.stop(content_id)
        await self.refresh_counts()

    async def delete_all(self, *, user_id: str | None = None) -> int:
        """Delete every content and chunk of the base (only ``user_id``'s own, when given); how
        many contents went. The processing of a content deleted with a user's stops at its next
        check (when it finds the content gone)."""
        await self.prepare()
        deleted = await self.store.delete_all(user_id=user_id)
        if user_id is None:
            for content_id in list(self._retries):
                self._forget_retry(content_id)
            self.pipeline.stop_all()
        await self.refresh_counts()
        return deleted

    async def search(
        self,
        query: str,
        *,
        max_results: int | None = None,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> builtins.list[SearchHit]:
        """The chunks nearest ``query``, nearest first (at most ``max_results``, else the base's),
        of ``user_id``'s contents and shared ones when given.

        Errors: ``ModelProviderError`` (embedding the query failed), ``StorageUnavailable``."""
        if not query.strip():
            raise BadRequest("query: must not be empty")
        if len(query) > MAX_QUERY_LENGTH:
            raise BadRequest(
                f"query: at most {MAX_QUERY_LENGTH:,} characters, got {len(query):,}: search with fewer words"
            )
        limit = max_results if max_results is not None else self.max_results
        if limit < 1:
            raise BadRequest("max_results: must be at least 1")
        await self.prepare()
        started = time.perf_counter()
        (vector,) = await self.pipeline.embed([query])
        hits = await self.store.search(vector, limit=limit, filters=filters, user_id=user_id)
        self.metrics.observe_search(self.id, time.perf_counter() - started)
        return hits

    async def wait_idle(self) -> None:
        """Until no background processing is pending (tests, shutdown)."""
        await self._queue.wait_idle()

    async def refresh_counts(self) -> None:
        """Read the contents and chunks the base holds into the metrics (skipped while the
        database is down)."""
        try:
            contents, chunks = await self.store.counts()
        except StorageUnavailable:
            return
        self.metrics.observe_counts(self.id, contents, chunks)
