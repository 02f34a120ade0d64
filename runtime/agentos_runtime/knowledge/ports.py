"""What a knowledge base needs from the outside: a store for contents and chunks, and an embedder.

One ``KnowledgeStore`` per base: it holds the base's rows of the shared contents table
(``linked_to`` = the base's id) and the base's own chunk table, in one database, so that
writing a content's chunks and marking it completed is one transaction (a failure leaves
nothing of it searchable). Implementations: SQLite with sqlite-vec and PostgreSQL with
pgvector (``knowledge/stores``); every one passes the same contract tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from agentos_runtime.knowledge.records import Chunk, Content, SearchHit

SortField = Literal["created_at", "updated_at", "name", "status", "size"]


class KnowledgeStore(Protocol):
    """Contents and chunks of one knowledge base. Errors are ``StorageUnavailable`` (database down)."""

    async def prepare(self) -> None:
        """Create what is missing (extension, tables, indexes); idempotent, safe with several replicas."""
        ...

    async def add_content(self, content: Content) -> None:
        """Insert a new content row (``processing``)."""
        ...

    async def get_content(self, content_id: str, *, user_id: str | None = None) -> Content | None:
        """The base's content with this id (``user_id``'s or a shared one, when given), or ``None``."""
        ...

    async def list_contents(
        self,
        *,
        page: int,
        limit: int,
        sort_by: SortField = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
        user_id: str | None = None,
    ) -> tuple[list[Content], int]:
        """One page (1-based) of the base's contents (``user_id``'s and shared ones, when given),
        and how many there are in all."""
        ...

    async def update_content(self, content: Content) -> bool:
        """Overwrite the row's editable fields (name, description, metadata, status, message,
        updated_at); ``False`` when it no longer exists."""
        ...

    async def edit_content(self, content: Content, *, metadata: Mapping[str, Any] | None = None) -> bool:
        """Overwrite the row's name, description and updated_at only: its status and message
        stay as they are now (processing may have ended since ``content`` was read); ``metadata``
        (when given) is merged into the row's, each top-level key it names replaced (as Agno
        does), and into the ``meta_data`` of each of its chunks, whose ``filters`` become the
        row's merged metadata, in the same transaction. ``False`` when it no longer exists."""
        ...

    async def restart_content(self, content_id: str, *, updated_at: int) -> bool:
        """Mark the content ``processing`` again (its message cleared, ``updated_at`` set), its name,
        description and metadata as they are now (an edit may have come since it was read);
        ``False`` when it no longer exists."""
        ...

    async def complete_content(self, content_id: str, chunks: Sequence[Chunk], *, updated_at: int) -> bool:
        """In one transaction: replace the content's chunks with ``chunks`` and mark it
        ``completed``; ``False`` (and nothing written) when the row was deleted meanwhile."""
        ...

    async def fail_content(self, content_id: str, message: str, *, updated_at: int) -> None:
        """Mark it ``failed`` with ``message`` and remove any chunk of it, in one transaction."""
        ...

    async def touch_contents(self, content_ids: Sequence[str], *, updated_at: int) -> None:
        """Heartbeat of contents being processed (``updated_at``), so other replicas leave them alone."""
        ...

    async def stale_contents(self, *, updated_before: int) -> list[Content]:
        """Contents still ``processing`` whose heartbeat is older than ``updated_before``."""
        ...

    async def delete_content(self, content_id: str) -> bool:
        """Delete the row and its chunks in one transaction; ``False`` when there was none."""
        ...

    async def delete_all(self, *, user_id: str | None = None) -> int:
        """Delete every content of the base and every chunk (only ``user_id``'s own, never shared
        ones, when given); how many contents went."""
        ...

    async def search(
        self,
        embedding: Sequence[float],
        *,
        limit: int,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> list[SearchHit]:
        """The ``limit`` chunks nearest ``embedding`` (cosine), nearest first; ``filters`` keeps
        chunks whose ``meta_data`` has each key with the given value, ``user_id`` the chunks of
        that user's contents and of shared ones."""
        ...

    async def counts(self) -> tuple[int, int]:
        """How many contents and chunks the base holds (for metrics)."""
        ...

    async def close(self) -> None: ...


class Embedder(Protocol):
    """Texts to vectors of ``dimensions`` floats.

    Errors are the chat models' ``ModelProviderError`` family (rate limit, authentication,
    connection, provider error), with messages that never carry the key."""

    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order (batched as configured)."""
        ...

    async def close(self) -> None: ...


class KnowledgeSearch(Protocol):
    """What a run needs of a knowledge base: its id and a search by text."""

    @property
    def id(self) -> str: ...

    @property
    def max_results(self) -> int:
        """Chunks a search returns when the caller does not say."""
        ...

    async def search(
        self,
        query: str,
        *,
        max_results: int | None = None,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> list[SearchHit]:
        """The chunks nearest ``query``, nearest first (of ``user_id``'s contents and shared ones,
        when given). Errors: ``ModelProviderError`` (embedding the query failed) or ``StorageUnavailable``."""
        ...
