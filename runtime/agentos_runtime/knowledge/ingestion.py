"""Processing a content in the background: read, chunk, embed, store; and the queue that runs it.

A content is searchable only once it is whole: its chunks and the ``completed`` status are
written in one transaction (``KnowledgeStore.complete_content``); any failure before that
(fetching, reading, an embeddings request, the database) marks it ``failed`` with a message
that says what went wrong (a provider error's own message, which never carries the key) and
leaves none of its chunks behind. Reading and chunking are CPU work and run in a thread; the
reading of a PDF stops at its next page or drawing operation once the content is deleted
(``Pipeline.stop``) or its processing is cancelled (the runtime stopping), so that neither
waits for a thread that works on for nothing.

``IngestionQueue`` runs at most ``concurrency`` contents at a time for the whole runtime (the
embeddings endpoint and the CPU are shared), and knows when it is idle.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from agentos_runtime.config.knowledge import (
    MAX_COPIED_METADATA_BYTES,
    ChunkingSettings,
    KnowledgeBaseConfig,
    metadata_size,
)
from agentos_runtime.errors import AgentOSError, Busy, ModelProviderError, StorageUnavailable
from agentos_runtime.knowledge.chunking import TooManyChunks, chunk_text
from agentos_runtime.knowledge.metrics import KnowledgeMetrics
from agentos_runtime.knowledge.ports import Embedder, KnowledgeStore
from agentos_runtime.knowledge.reading import format_size, read_content
from agentos_runtime.knowledge.records import Chunk, Content
from agentos_runtime.knowledge.sources import fetch_url, read_file_capped, sha256_of, within_sources

logger = logging.getLogger("agentos_runtime.knowledge")

# Contents processed at once per runtime: embedding is I/O bound, reading PDFs is CPU bound
# on a pod that usually has one or two cores.
DEFAULT_CONCURRENCY = 2
# Uploaded bytes held in memory until their content is processed, for the whole runtime: past
# it, an upload is refused with 503 and Retry-After rather than held (one upload, however large
# within its base's limit, is always taken when nothing is held).
MAX_HELD_BYTES = 256 * 1024 * 1024
HELD_RETRY_SECONDS = 30
# Chunks one content may be cut into (unless its base's own chunking makes more of its largest
# content, see ``max_chunks``): every chunk and its vector are held in memory until the content
# is stored in one transaction, a vector of 1,536 dimensions about 50 KB as Python floats. A
# content at the default limit (20 MiB) and chunk size (5,000) makes about 4,200; the smallest
# chunks an upload may ask for (50 characters repeating 49) would make one per character.
MAX_CHUNKS = 10_000

Clock = Callable[[], float]


@dataclass(frozen=True)
class Payload:
    """What processing reads: bytes (with the file name and type they came with), a URL to
    fetch, or a file to read."""

    data: bytes | None = None
    url: str | None = None
    path: Path | None = None
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Document:
    """A payload's bytes once fetched or read from disk, before they are parsed."""

    data: bytes
    filename: str | None
    content_type: str | None


class IngestionFailed(AgentOSError):
    """Processing stopped for a reason its message gives (the content's ``status_message``)."""

    status_code = 422


@dataclass
class Pipeline:
    """The steps of processing one content of one base, with what they need."""

    base: KnowledgeBaseConfig
    store: KnowledgeStore
    embedder: Embedder
    metrics: KnowledgeMetrics
    clock: Clock = time.time
    _stops: dict[str, threading.Event] = field(default_factory=dict, init=False, repr=False)
    """The stop signal of each content being read, by id."""

    def reading(self, content_id: str) -> bool:
        """Whether ``content_id`` is being read (and can be stopped)."""
        return content_id in self._stops

    def stop(self, content_id: str) -> None:
        """Stop reading ``content_id`` (it was deleted): its thread ends at its next check."""
        if (event := self._stops.get(content_id)) is not None:
            event.set()

    def stop_all(self) -> None:
        """Stop reading every content of the base (all were deleted)."""
        for event in list(self._stops.values()):
            event.set()

    async def process(
        self,
        content: Content,
        payload: Payload,
        chunking: ChunkingSettings,
        *,
        after_failure: Callable[[Exception], str] | None = None,
    ) -> bool:
        """Process ``content``; ``True`` when it is now completed. Never raises but for
        cancellation: a failure is recorded on the content (``failed``, its message, and what
        ``after_failure`` adds: when it is retried)."""
        started = time.perf_counter()
        try:
            document = await self.load(payload)
            chunks = await self.chunks(content, document, chunking)
            completed = await self.store.complete_content(content.id, chunks, updated_at=int(self.clock()))
        except (AgentOSError, OSError) as error:
            note = after_failure(error) if after_failure is not None else ""
            await self.fail(content, failure_message(error) + note)
            self.metrics.observe_ingestion(self.base.id, completed=False, seconds=time.perf_counter() - started)
            return False
        except Exception as error:  # a bug must not leave the row processing forever
            logger.exception("processing content %s of knowledge base %s failed", content.id, self.base.id)
            if after_failure is not None:
                after_failure(error)
            await self.fail(content, f"processing failed unexpectedly ({type(error).__name__}); see the runtime's log")
            self.metrics.observe_ingestion(self.base.id, completed=False, seconds=time.perf_counter() - started)
            return False
        if completed:
            self.metrics.observe_ingestion(self.base.id, completed=True, seconds=time.perf_counter() - started)
        return completed

    async def load(self, payload: Payload) -> Document:
        """The payload's bytes: as given, read from disk, or fetched from its URL."""
        if payload.data is not None:
            return Document(payload.data, payload.filename, payload.content_type)
        if payload.path is not None:
            if not within_sources(payload.path, self.base.sources):
                raise IngestionFailed(f"{payload.path} is not under a source path of this knowledge base")
            data = await asyncio.to_thread(read_file_capped, payload.path, self.base.max_content_bytes)
            return Document(data, payload.path.name, payload.content_type)
        if payload.url is not None:
            fetched = await fetch_url(
                payload.url, allowed_hosts=self.base.allowed_hosts, max_bytes=self.base.max_content_bytes
            )
            return Document(fetched.data, fetched.filename, fetched.content_type)
        raise IngestionFailed("nothing to read: no file, text or URL")

    async def chunks(self, content: Content, document: Document, chunking: ChunkingSettings) -> list[Chunk]:
        """Read, chunk and embed ``document`` into the chunks of ``content``."""
        stop = self._stops.setdefault(content.id, threading.Event())
        try:
            pieces = await asyncio.to_thread(self._read_and_chunk, document, chunking, stop)
        finally:
            stop.set()  # cancelled (the runtime stopping): the thread stops at its next check
            if self._stops.get(content.id) is stop:
                del self._stops[content.id]
        if not pieces:
            raise IngestionFailed("no text found in the content")
        problem = copies_problem(metadata_size(content.metadata), len(pieces))
        if problem is not None:  # before any embedding is paid for
            raise IngestionFailed(problem)
        vectors = await self.embed(pieces)
        return build_chunks(content, pieces, vectors, content_hash=sha256_of(document.data))

    def _read_and_chunk(self, document: Document, chunking: ChunkingSettings, stop: threading.Event) -> list[str]:
        read = read_content(
            document.data,
            filename=document.filename,
            content_type=document.content_type,
            max_bytes=self.base.max_content_bytes,
            stop=stop,
        )
        try:
            pieces = chunk_text(read.text, chunking, max_chunks=max_chunks(self.base))
        except TooManyChunks as error:
            raise IngestionFailed(too_many_chunks_message(error.limit, chunking)) from None
        return [piece for piece in pieces if piece.strip()]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, a request per ``batch_size`` texts, each timed and counted. The
        embedder checks its answers (one vector per text, each of its ``dimensions``): a wrong
        one raises ``ModelProviderError``, which fails the content before anything is stored."""
        batch_size = self.base.embedder.batch_size
        vectors: list[list[float]] = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            began = time.perf_counter()
            try:
                answer = await self.embedder.embed(batch)
            except BaseException:
                self.metrics.observe_embedding(self.base.id, ok=False, seconds=time.perf_counter() - began)
                raise
            self.metrics.observe_embedding(self.base.id, ok=True, seconds=time.perf_counter() - began)
            vectors.extend(answer)
        return vectors

    async def fail(self, content: Content, message: str) -> None:
        """Record the failure; when even that cannot be written the row stays ``processing``
        and, its heartbeat gone, is failed or resumed once its lease runs out."""
        try:
            await self.store.fail_content(content.id, message, updated_at=int(self.clock()))
        except StorageUnavailable as error:
            logger.warning(
                "content %s of knowledge base %s failed (%s) and could not be marked failed: %s",
                content.id,
                self.base.id,
                message,
                error.detail,
            )
            return
        logger.warning("content %s of knowledge base %s failed: %s", content.id, self.base.id, message)


def failure_message(error: AgentOSError | OSError) -> str:
    """The ``status_message`` of a content that failed with ``error``."""
    if isinstance(error, ModelProviderError):
        return f"embedding failed: {error.detail}"
    if isinstance(error, StorageUnavailable):
        return f"storing the chunks failed: {error.detail}"
    if isinstance(error, AgentOSError):
        return error.detail
    return f"reading the file failed: {error.strerror or type(error).__name__}"


def max_chunks(base: KnowledgeBaseConfig) -> int:
    """The most chunks one content of ``base`` may be cut into: ``MAX_CHUNKS``, or twice what the
    base's own chunking makes of the largest content it takes, when that is more (a base whose
    limit or chunks were chosen for more chunks keeps them; an upload's own chunk_size and
    chunk_overlap cannot multiply them)."""
    own = -(-base.max_content_bytes // base.chunking.size)
    return max(MAX_CHUNKS, 2 * own)


def too_many_chunks_message(limit: int, chunking: ChunkingSettings) -> str:
    """The ``status_message`` of a content its chunking would cut into more than ``limit`` chunks."""
    return (
        f"the content would be cut into more than {limit:,} chunks (chunk_size {chunking.size}, chunk_overlap "
        f"{chunking.overlap}): upload it with a larger chunk_size or a smaller chunk_overlap, or split the document"
    )


def copies_problem(metadata_bytes: int, chunks: int) -> str | None:
    """Why a content whose metadata (of ``metadata_bytes``) would be copied into ``chunks``
    chunks is refused: the copies, stored twice per chunk (its metadata and its filters), would
    pass ``MAX_COPIED_METADATA_BYTES``."""
    copied = 2 * metadata_bytes * chunks
    if copied <= MAX_COPIED_METADATA_BYTES:
        return None
    return (
        f"its metadata ({metadata_bytes:,} bytes) would be copied into each of its {chunks:,} chunks, "
        f"{copied / 2**20:,.0f} MiB in all, over {MAX_COPIED_METADATA_BYTES // 2**20} MiB: "
        "shorten the metadata or use larger chunks"
    )


def build_chunks(
    content: Content, pieces: Sequence[str], vectors: Sequence[list[float]], *, content_hash: str
) -> list[Chunk]:
    """The chunks of ``content``: Agno's chunk metadata (``chunk``, ``chunk_size``, ``linked_to``)
    over the content's own metadata, ids stable for the same content and text."""
    chunks = []
    for number, (piece, vector) in enumerate(zip(pieces, vectors, strict=True), start=1):
        meta_data: dict[str, Any] = {
            **content.metadata,
            "chunk": number,
            "chunk_size": len(piece),
            "linked_to": content.linked_to,
        }
        chunk_id = hashlib.md5(f"{content.id}:{number}:{piece}".encode(), usedforsecurity=False).hexdigest()
        chunks.append(
            Chunk(
                id=chunk_id,
                content_id=content.id,
                name=content.name,
                content=piece,
                embedding=list(vector),
                meta_data=meta_data,
                content_hash=content_hash,
            )
        )
    return chunks


class IngestionQueue:
    """Background processing, ``concurrency`` at a time; ``wait_idle`` until none is left."""

    def __init__(self, *, concurrency: int = DEFAULT_CONCURRENCY, max_held_bytes: int = MAX_HELD_BYTES) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self.max_held_bytes = max_held_bytes
        self.held_bytes = 0
        """Uploaded bytes reserved by jobs not yet ended."""

    def reserve(self, size: int) -> None:
        """Count ``size`` uploaded bytes that a job about to be submitted holds (``submit(held=)``
        gives them back when it ends, ``release`` if it never is); ``Busy`` when that would pass
        ``max_held_bytes`` while something is already held."""
        if size and self.held_bytes and self.held_bytes + size > self.max_held_bytes:
            raise Busy(
                f"{format_size(self.held_bytes)} of uploads are waiting to be processed, the most this server "
                f"holds at once is {format_size(self.max_held_bytes)}: retry in a while",
                retry_after=HELD_RETRY_SECONDS,
            )
        self.held_bytes += size

    def release(self, size: int) -> None:
        self.held_bytes -= size

    def submit(self, job: Callable[[], Awaitable[Any]], *, name: str, held: int = 0) -> None:
        """Run ``job`` once a slot is free; the ``held`` bytes it ``reserve``d are released when it
        ends. After ``close`` nothing new starts."""
        if self._closed:
            self.release(held)
            return
        task = asyncio.get_running_loop().create_task(self._run(job), name=name)
        self._tasks.add(task)
        self._idle.clear()
        if held:
            task.add_done_callback(lambda _: self.release(held))
        task.add_done_callback(self._finished)

    def spawn(self, job: Coroutine[Any, Any, Any], *, name: str) -> None:
        """Run ``job`` now, outside the slots (it submits its own work): tracked for
        ``wait_idle`` and ``close``."""
        if self._closed:
            job.close()
            return
        task = asyncio.get_running_loop().create_task(job, name=name)
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._finished)

    async def _run(self, job: Callable[[], Awaitable[Any]]) -> None:
        async with self._slots:
            await job()

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("knowledge background task %s failed", task.get_name(), exc_info=task.exception())
        if not self._tasks:
            self._idle.set()

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def wait_idle(self) -> None:
        """Until every job submitted (and every job those submit) has ended."""
        while self._tasks:
            await self._idle.wait()

    async def close(self) -> None:
        """Cancel what is queued or running (their contents stay ``processing`` and are
        resumed or failed by the next runtime once their lease runs out)."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def resumable_payload(content: Content) -> Payload | None:
    """How to process ``content`` again, when its origin can be read again: a URL (fetched
    again) or a configured source file; ``None`` for an upload (its bytes are gone)."""
    origin = content.external_id or ""
    scheme = urlsplit(origin).scheme
    if scheme in ("http", "https"):
        return Payload(url=origin)
    if scheme == "file":
        # The bytes the name was quoted from (``Path.as_uri``): a name that is not UTF-8 is
        # found again as it is on disk, not with its odd bytes replaced.
        return Payload(path=Path(os.fsdecode(unquote_to_bytes(urlsplit(origin).path))))
    return None
