"""The storage ports: rows in Agno's column layout, and the small async protocols over them.

Rows mirror Agno's ``agno_sessions``, ``agno_memories``, ``agno_metrics`` and ``agno_eval_runs`` columns one to one (a session's
runs are rows of Agno 3's ``agno_runs``), so a database written by Agno's AgentOS can be served
by this runtime and the reverse. Timestamps are epoch seconds. Every method raises
``StorageUnavailable`` when the database cannot be reached; a lookup returns ``None`` only when
the row is absent. Rows returned are copies: changing them changes nothing stored.

Listings: ``page`` is 1-based and ``Page.total`` counts every match; a ``limit`` or ``page``
below 1 raises ``BadRequest``; ``sort_by`` outside the sortable columns (``querying``) falls
back to the default, as Agno ignores it; ``updated_at`` sorts fall back to ``created_at``;
missing values sort last. A value that is not JSON raises ``TypeError`` and writes nothing
(``jsontext`` says what is written of the few that are not JSON yet are written: NaN, UUIDs, enums).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, Literal, Protocol, TypeVar

SessionType = Literal["agent", "team", "workflow"]
SortOrder = Literal["asc", "desc"]
JSON = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the total number of matching rows."""

    items: list[T]
    total: int


@dataclass(frozen=True)
class SessionRow:
    """One row of ``agno_sessions``; ``runs`` holds each run's ``RunOutput`` dict."""

    session_id: str
    session_type: SessionType
    created_at: int
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    user_id: str | None = None
    session_data: JSON | None = None
    agent_data: JSON | None = None
    team_data: JSON | None = None
    workflow_data: JSON | None = None
    metadata: JSON | None = None
    runs: list[JSON] | None = None
    summary: JSON | None = None
    updated_at: int | None = None


@dataclass(frozen=True)
class SessionQuery:
    """Filters, order and page of ``GET /sessions``; ``None`` means no filter."""

    session_type: SessionType | None = None
    component_id: str | None = None
    user_id: str | None = None
    session_name: str | None = None
    limit: int = 20
    page: int = 1
    sort_by: str = "created_at"
    sort_order: SortOrder = "desc"
    # List views that never read run history can skip loading it (``runs`` is then ``None``).
    include_runs: bool = True


@dataclass(frozen=True)
class RecentRuns:
    """Which runs ``get_session`` reads with a session: the latest ``limit`` top-level runs (no
    ``parent_run_id``) whose ``status`` is not in ``skip_statuses``, oldest first.

    What a run's history needs, read without the rest of a session that keeps growing.
    """

    limit: int
    skip_statuses: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SessionChanges:
    """Fields ``PATCH /sessions/{id}`` and rename may change; ``None`` leaves a field as it is."""

    session_name: str | None = None
    session_state: JSON | None = None
    metadata: JSON | None = None
    summary: JSON | None = None


MEMORY_MAX_LENGTH = 5000
"""Characters one memory's text may have (Agno's bound), whoever writes it: a client or a model."""
MAX_TOPICS = 20
TOPIC_MAX_LENGTH = 100
"""Topics one memory is filed under, and characters per topic: short tags, whoever writes them
(a listing returns every memory's topics, so they are bounded as the text is)."""


def topics_problem(topics: Sequence[str]) -> str | None:
    """Why ``topics`` cannot be a memory's; ``None`` when they can."""
    if len(topics) > MAX_TOPICS:
        return f"a memory has at most {MAX_TOPICS} topics, not {len(topics)}"
    for topic in topics:
        if not topic.strip():
            return "a topic cannot be empty"
        if len(topic) > TOPIC_MAX_LENGTH:
            return f"a topic has at most {TOPIC_MAX_LENGTH} characters, not {len(topic)}"
    return None


@dataclass(frozen=True)
class MemoryRow:
    """One row of ``agno_memories``; ``memory`` is the text (stored as JSON, as Agno does)."""

    memory_id: str
    memory: str
    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    topics: list[str] = field(default_factory=list)
    input: str | None = None
    feedback: str | None = None
    created_at: int | None = None
    updated_at: int | None = None


@dataclass(frozen=True)
class MemoryQuery:
    """Filters, order and page of ``GET /memories``: a memory must carry every listed topic;
    ``search_content`` matches part of the text, ignoring case (every letter, ``querying.fold``).
    """

    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    search_content: str | None = None
    topics: Sequence[str] | None = None
    limit: int = 20
    page: int = 1
    sort_by: str = "updated_at"
    sort_order: SortOrder = "desc"


@dataclass(frozen=True)
class UserMemoryStats:
    user_id: str
    total_memories: int
    last_memory_updated_at: int | None


class SessionStore(Protocol):
    async def get_session(
        self,
        session_id: str,
        *,
        session_type: SessionType | None = None,
        user_id: str | None = None,
        recent_runs: RecentRuns | None = None,
    ) -> SessionRow | None:
        """The session with all its runs, or only the runs ``recent_runs`` selects."""
        ...

    async def list_sessions(self, query: SessionQuery) -> Page[SessionRow]:
        """``session_name`` matches part of ``session_data["session_name"]``, ignoring case (``querying.fold``)."""
        ...

    async def create_session(self, row: SessionRow) -> SessionRow | None:
        """Write ``row`` (its runs left out) as a new session: ``None``, writing nothing, when a
        session of its id is stored, even one written at the same instant by another request.

        ``updated_at`` defaults to now. Returns what was written, with no runs.
        """
        ...

    async def upsert_session(self, row: SessionRow) -> SessionRow:
        """Write the whole row (runs included; ``None`` means none), replacing any stored one.

        ``updated_at`` defaults to now. Returns what was written.
        """
        ...

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        """Atomically add ``run`` to its session, replacing a stored run with the same ``run_id``.

        The session row is read and written in one transaction (or optimistic retry on Redis),
        so two concurrent runs on one session both survive. ``new`` is written when the session
        does not exist yet (otherwise the stored columns are kept); ``session_state`` (when
        given) replaces ``session_data["session_state"]``; ``updated_at`` becomes now. The
        other runs are neither read nor rewritten, so a save costs the same on the first run of
        a session and on its thousandth. Returns the session as written, without its runs
        (``runs`` is ``None``). A run without a string ``run_id`` raises ``ValueError`` and
        writes nothing.
        """
        ...

    async def replace_run(self, session_id: str, run: JSON, *, status: str, events: int | None = None) -> bool:
        """Replace the stored run of ``run["run_id"]`` in session ``session_id`` by ``run``, only
        while it is stored with ``status`` (and, when ``events`` is given, holding that many
        ``events``: the run as it was read, not one that went on and paused again since): a
        compare-and-set, atomic between replicas too.

        ``True`` when replaced (at its place in the session); ``False``, writing nothing, when
        no such run is stored there or its status is another (another request changed it
        first). Runs Agno 2 left in the session row are never replaced. A run without a string
        ``run_id`` raises ``ValueError`` and writes nothing.
        """
        ...

    async def update_session(
        self, session_id: str, changes: SessionChanges, *, user_id: str | None = None
    ) -> SessionRow | None:
        """Apply ``changes`` (name and state go into ``session_data``) in one transaction.

        ``None`` when the session is absent or belongs to another user than ``user_id``.
        """
        ...

    async def delete_sessions(self, session_ids: Sequence[str], *, user_id: str | None = None) -> int:
        """Delete these sessions (of ``user_id`` only, when given) and their runs; return how many."""
        ...

    async def request_cancel(self, run_id: str, *, seconds: int) -> None:
        """Record that the run ``run_id`` is to be cancelled, for ``seconds`` from now, whichever
        replica runs it (or starts it in that time): ``cancel_requested`` tells it. Intents past
        their time are forgotten (those of other runs may be deleted in the same write)."""
        ...

    async def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        """Which of ``run_ids`` have a cancel recorded (``request_cancel``) that has not expired."""
        ...


class MemoryStore(Protocol):
    async def get_memory(self, memory_id: str, *, user_id: str | None = None) -> MemoryRow | None: ...
    async def list_memories(self, query: MemoryQuery) -> Page[MemoryRow]: ...
    async def upsert_memory(self, row: MemoryRow) -> MemoryRow:
        """Write the memory; a stored ``created_at`` is kept, missing times default to now."""
        ...

    async def update_memory(self, row: MemoryRow, *, user_id: str | None = None) -> MemoryRow | None:
        """Rewrite the stored memory ``row`` names (``user_id``'s only, when given), as
        ``upsert_memory`` writes; ``None``, writing nothing, when there is none: a memory deleted
        since it was read stays deleted, in one transaction with the write."""
        ...

    async def delete_memories(self, memory_ids: Sequence[str], *, user_id: str | None = None) -> int: ...
    async def list_topics(self, *, user_id: str | None = None) -> list[str]:
        """Every topic once, sorted."""
        ...

    async def user_memory_stats(self, *, limit: int = 20, page: int = 1) -> Page[UserMemoryStats]:
        """Per user with memories: count and latest update, most recently updated first."""
        ...


@dataclass(frozen=True)
class RunUsage:
    """What the daily metrics read of one stored run: its model, its own token counts, and the
    runs held inside it: ``members``, a team's members' runs (``member_responses``), and
    ``steps``, a workflow's steps' runs (``step_executor_runs``), each as a ``RunUsage`` too.
    ``parent_run_id``: the run it was made in, for a member's run stored apart (as Agno stores
    them besides inside their team's run)."""

    model: str | None = None
    model_provider: str | None = None
    metrics: JSON | None = None
    run_id: str | None = None
    parent_run_id: str | None = None
    members: tuple[RunUsage, ...] = ()
    steps: tuple[RunUsage, ...] = ()


@dataclass(frozen=True)
class SessionActivity:
    """One session as the daily metrics see it (no messages): owner, type, day, runs' usage."""

    session_id: str
    session_type: SessionType
    created_at: int
    user_id: str | None = None
    session_metrics: JSON | None = None
    runs: list[RunUsage] = field(default_factory=list)


@dataclass(frozen=True)
class MetricsRow:
    """One row of ``agno_metrics``: one owner's (``user_id``, ``""`` for none) totals of one day."""

    id: str
    date: date
    user_id: str = ""
    aggregation_period: str = "daily"
    agent_runs_count: int = 0
    team_runs_count: int = 0
    workflow_runs_count: int = 0
    agent_sessions_count: int = 0
    team_sessions_count: int = 0
    workflow_sessions_count: int = 0
    users_count: int = 0
    token_metrics: JSON = field(default_factory=dict)
    model_metrics: list[JSON] = field(default_factory=list)
    completed: bool = False
    created_at: int = 0
    updated_at: int | None = None


@dataclass(frozen=True)
class MetricsDays:
    """Where a metrics refresh stands: the latest day stored as completed, and the earliest
    day after it stored as not completed (``None`` when there is none)."""

    latest_completed: date | None
    earliest_incomplete: date | None


class MetricsStore(Protocol):
    async def session_activity(self, *, start: int, end: int) -> list[SessionActivity]:
        """Sessions created at or after ``start`` and before ``end`` (epoch seconds)."""
        ...

    async def first_session_at(self) -> int | None:
        """When the oldest stored session was created; ``None`` without sessions."""
        ...

    async def metrics_days(self) -> MetricsDays: ...

    async def write_metrics(self, rows: Sequence[MetricsRow]) -> None:
        """Upsert every row by (``user_id``, ``date``, ``aggregation_period``), all or none.

        A stored row keeps its ``id`` and ``created_at``.
        """
        ...

    async def list_metrics(
        self, *, starting_date: date | None = None, ending_date: date | None = None, user_id: str | None = None
    ) -> list[MetricsRow]:
        """Rows with a date in the inclusive range (of one owner when ``user_id`` is given), by date."""
        ...


EvalComponent = Literal["agent", "team", "workflow"]


@dataclass(frozen=True)
class EvalRow:
    """One row of ``agno_eval_runs``: what was evaluated, how, and the result."""

    run_id: str
    eval_type: str
    eval_data: JSON
    eval_input: JSON = field(default_factory=dict)
    name: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    model_id: str | None = None
    model_provider: str | None = None
    evaluated_component_name: str | None = None
    user_id: str | None = None
    created_at: int | None = None
    updated_at: int | None = None


@dataclass(frozen=True)
class EvalQuery:
    """Filters, order and page of ``GET /eval-runs``; ``component`` keeps runs of that kind."""

    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    model_id: str | None = None
    component: EvalComponent | None = None
    eval_types: Sequence[str] | None = None
    user_id: str | None = None
    limit: int = 20
    page: int = 1
    sort_by: str = "created_at"
    sort_order: SortOrder = "desc"


class EvalStore(Protocol):
    async def create_eval(self, row: EvalRow) -> EvalRow:
        """Write a new eval run; missing times default to now. Returns what was written."""
        ...

    async def get_eval(self, run_id: str) -> EvalRow | None: ...
    async def list_evals(self, query: EvalQuery) -> Page[EvalRow]: ...
    async def rename_eval(self, run_id: str, name: str) -> EvalRow | None:
        """Set the name (and ``updated_at``); ``None`` when the run is absent."""
        ...

    async def delete_evals(self, run_ids: Sequence[str], *, user_id: str | None = None) -> int:
        """Delete these eval runs (of ``user_id`` only, when given); return how many."""
        ...


class Database(Protocol):
    """An open database: its stores, a health check, and a close."""

    id: str
    sessions: SessionStore
    memories: MemoryStore
    metrics: MetricsStore
    evals: EvalStore

    async def ping(self) -> None:
        """Return when the database answers and would take a write (as far as it can tell without
        one); raise ``StorageUnavailable`` saying why otherwise."""
        ...

    async def close(self) -> None: ...
