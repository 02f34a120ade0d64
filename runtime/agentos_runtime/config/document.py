"""The runtime config document, and the cross-reference checks shared with the operator.

``RuntimeConfigFields`` is everything the runtime file and the ``AgentOSConfig`` spec have in
common; the two documents add their own ``models`` and ``databases`` (an env var name on one
side, a Secret reference on the other). ``check_references`` runs on either.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Sequence
from typing import Protocol

from pydantic import Field
from pydantic.alias_generators import to_camel

from agentos_runtime.config.authorization import AuthorizationSettings
from agentos_runtime.config.base import Schema
from agentos_runtime.config.components import AgentConfig, LeafStep, TeamConfig, WorkflowConfig, WorkflowStep
from agentos_runtime.config.databases import DatabaseConfig, DatabaseFields, TableNames, reserved_table_problem
from agentos_runtime.config.knowledge import SQLITE_MAX_DIMENSIONS, KnowledgeBaseConfig, KnowledgeBaseFields
from agentos_runtime.config.llm import ModelConfig, ModelFields
from agentos_runtime.config.mcp import McpServerConfig, mcp_server_of
from agentos_runtime.config.problems import Path, Problem
from agentos_runtime.config.ui import ChatSettings, DomainSettings, KnowledgeSettings, ManifestEntry

DOMAINS = ("session", "memory", "metrics", "evals", "knowledge", "learning", "traces")


class RuntimeConfigFields(Schema):
    """Top-level fields shared by the runtime file and the custom resource spec."""

    os_id: str | None = Field(
        default=None,
        max_length=128,
        description="AgentOS id reported by `/config`; defaults to the resource or file name.",
    )
    name: str | None = Field(default=None, description="AgentOS display name.")
    description: str | None = Field(default=None, description="AgentOS description.")
    db: str | None = Field(
        default=None,
        description="Id of the default database for components that name none; defaults to the first in `session.dbs`, then the first declared.",
    )
    available_models: list[str] | None = Field(
        default=None, max_length=64, description="Model ids the UI offers (Agno's `available_models`)."
    )
    chat: ChatSettings | None = Field(default=None, description="Chat page settings (Agno's `chat`).")
    manifest: dict[str, ManifestEntry] | None = Field(
        default=None, description="UI cards per agent, team or workflow id (Agno's `manifest`)."
    )
    session: DomainSettings | None = Field(default=None, description="Sessions page: databases and display names.")
    memory: DomainSettings | None = Field(default=None, description="Memories page: databases and display names.")
    metrics: DomainSettings | None = Field(default=None, description="Metrics page: databases and display names.")
    evals: DomainSettings | None = Field(default=None, description="Evals page: databases and display names.")
    knowledge: KnowledgeSettings | None = Field(
        default=None, description="Knowledge page: databases and knowledge bases."
    )
    learning: DomainSettings | None = Field(default=None, description="Learnings page: databases and display names.")
    traces: DomainSettings | None = Field(default=None, description="Traces page: databases and display names.")
    agents: list[AgentConfig] = Field(default_factory=list, max_length=256, description="Declarative agents.")
    teams: list[TeamConfig] = Field(default_factory=list, max_length=128, description="Declarative teams.")
    workflows: list[WorkflowConfig] = Field(default_factory=list, max_length=128, description="Declarative workflows.")
    authorization: AuthorizationSettings | None = Field(
        default=None,
        description="JWT access control: audience, admin scope, user isolation. Keys come from `JWT_VERIFICATION_KEY` or `JWT_JWKS_FILE`.",
    )
    mcp_server: bool = Field(
        default=False,
        description="Serve the agents, teams and workflows as an MCP server at `/mcp` (Agno's `mcp_server=True`), behind the API's authentication.",
    )


class RuntimeConfig(RuntimeConfigFields):
    """The file the runtime reads: Agno's AgentOS YAML config plus declarative components."""

    models: list[ModelConfig] = Field(default_factory=list, max_length=64, description="Chat models.")
    databases: list[DatabaseConfig] = Field(
        default_factory=list,
        max_length=32,
        description="Databases; none means one embedded SQLite file.",
    )
    mcp_servers: list[McpServerConfig] = Field(
        default_factory=list,
        max_length=32,
        description="MCP tool servers; an agent lists `mcp:<id>` in its `tools` to use one's tools.",
    )
    knowledge_bases: list[KnowledgeBaseConfig] = Field(
        default_factory=list,
        max_length=32,
        description="Knowledge bases: documents agents search; an agent names one in `knowledge`.",
    )


class ConfigDocument(Protocol):
    """What ``check_references`` reads: the runtime file or the custom resource spec."""

    @property
    def models(self) -> Sequence[ModelFields]: ...
    @property
    def databases(self) -> Sequence[DatabaseFields]: ...
    @property
    def agents(self) -> Sequence[AgentConfig]: ...
    @property
    def teams(self) -> Sequence[TeamConfig]: ...
    @property
    def workflows(self) -> Sequence[WorkflowConfig]: ...
    @property
    def db(self) -> str | None: ...
    @property
    def chat(self) -> ChatSettings | None: ...
    @property
    def manifest(self) -> dict[str, ManifestEntry] | None: ...


def check_references(doc: ConfigDocument, *, camel_case: bool = False, prefix: Path = ()) -> list[Problem]:
    """Every id is unique and every reference names something declared.

    ``camel_case`` spells field names as the custom resource does; ``prefix`` is prepended to
    every path (``("spec",)`` for a resource).
    """

    def at(*parts: str | int) -> Path:
        return prefix + tuple(to_camel(p) if camel_case and isinstance(p, str) else p for p in parts)

    problems: list[Problem] = []
    model_ids = _unique(problems, at, "models", [m.id for m in doc.models])
    db_ids = _unique(problems, at, "databases", [d.id for d in doc.databases])
    problems.extend(_shared_storage(doc.databases, at))
    agent_ids = _unique(problems, at, "agents", [a.id for a in doc.agents])
    team_ids = _unique(problems, at, "teams", [t.id for t in doc.teams])
    workflow_ids = _unique(problems, at, "workflows", [w.id for w in doc.workflows])
    for kind, others in (("teams", agent_ids), ("workflows", agent_ids | team_ids)):
        for index, component_id in enumerate(_ids_of(doc, kind)):
            if component_id in others:
                problems.append(
                    Problem(at(kind, index, "id"), f"id '{component_id}' is already used by another agent or team")
                )

    def ref(path: Path, value: str | None, known: set[str], what: str, where: str) -> None:
        if value is not None and value not in known:
            problems.append(Problem(path, f"unknown {what} '{value}': declare it in {where} or fix the id"))

    if doc.db is not None:
        ref(at("db"), doc.db, db_ids, "database", "databases")
    for kind, items in (("agents", doc.agents), ("teams", doc.teams)):
        for i, component in enumerate(items):
            if component.model is None and not model_ids:
                problems.append(Problem(at(kind, i, "model"), "no model declared: add one to models"))
            ref(at(kind, i, "model"), component.model, model_ids, "model", _spell("models", camel_case))
            ref(at(kind, i, "db"), component.db, db_ids, "database", "databases")
            ref(at(kind, i, "memory_db"), component.memory_db, db_ids, "database", "databases")
    for i, team in enumerate(doc.teams):
        for j, member in enumerate(team.members):
            ref(at("teams", i, "members", j), member, agent_ids | team_ids, "agent or team", "agents or teams")
            if member == team.id:
                problems.append(Problem(at("teams", i, "members", j), "a team cannot be its own member"))
    problems.extend(_team_cycles(doc.teams, at))
    problems.extend(_mcp_references(doc, at, _spell("mcp_servers", camel_case)))
    problems.extend(_knowledge_references(doc, at, db_ids, camel_case))
    for i, workflow in enumerate(doc.workflows):
        ref(at("workflows", i, "db"), workflow.db, db_ids, "database", "databases")
        named: set[str] = set()
        for j, step in enumerate(workflow.steps):
            step_path = at("workflows", i, "steps", j)
            inner = [(path, leaf) for path, leaf in _leaf_paths(step, step_path, camel_case) if path != step_path]
            for path, leaf in [(step_path, step), *inner]:
                # Events, metrics and results name steps: two of one name could not be told apart.
                if leaf.name in named:
                    problems.append(Problem(path + ("name",), f"step name '{leaf.name}' is used twice: rename one"))
                named.add(leaf.name)
            for path, leaf in _leaf_paths(step, step_path, camel_case):
                ref(path + (_spell("agent", camel_case),), leaf.agent, agent_ids, "agent", "agents")
                ref(path + (_spell("team", camel_case),), leaf.team, team_ids, "team", "teams")
    problems.extend(_ui_references(doc, at, db_ids, agent_ids | team_ids | workflow_ids))
    return problems


def _mcp_references(doc: ConfigDocument, at: _At, where: str) -> list[Problem]:
    """Server ids are unique and every ``mcp:<id>`` tool entry names a declared server."""
    problems: list[Problem] = []
    server_ids = _unique(problems, at, "mcp_servers", [s.id for s in getattr(doc, "mcp_servers", None) or []])
    for kind, i, component in [
        *(("agents", i, a) for i, a in enumerate(doc.agents)),
        *(("teams", i, t) for i, t in enumerate(doc.teams)),
    ]:
        for j, name in enumerate(component.tools):
            server_id = mcp_server_of(name)
            if server_id is not None and server_id not in server_ids:
                problems.append(
                    Problem(
                        at(kind, i, "tools", j),
                        f"unknown MCP server '{server_id}': declare it in {where} or fix the id",
                    )
                )
    return problems


def _knowledge_references(doc: ConfigDocument, at: _At, db_ids: set[str], camel_case: bool) -> list[Problem]:
    """Base ids are unique, live on a SQL database, and every ``knowledge`` names a declared base."""
    problems: list[Problem] = []
    bases: Sequence[KnowledgeBaseFields] = getattr(doc, "knowledge_bases", None) or []
    where = _spell("knowledge_bases", camel_case)
    base_ids = _unique(problems, at, where, [b.id for b in bases])
    types = {d.id: d.type for d in doc.databases}
    declared = {d.id: d.tables.by_field() for d in doc.databases}
    default_db = doc.db or next(iter(types), None)
    tables: dict[tuple[str | None, str], str] = {}
    for i, base in enumerate(bases):
        db = base.db or default_db
        db_type = types.get(db or "", "sqlite")
        own = declared.get(db or "") or TableNames().by_field()
        taken = [field for field, name in own.items() if name.casefold() == base.table_name]
        clash = reserved_table_problem(base.table_name) or (
            f"'{base.table_name}' is the database's {taken[0]} table: choose another name" if taken else None
        )
        if clash is not None:
            problems.append(Problem(at(where, i, "table"), clash))
        dimensions = getattr(getattr(base, "embedder", None), "dimensions", 0)
        if db_type == "sqlite" and dimensions > SQLITE_MAX_DIMENSIONS:
            problems.append(
                Problem(
                    at(where, i, "embedder", "dimensions"),
                    f"{dimensions} dimensions: an SQLite knowledge base holds vectors of at most"
                    f" {SQLITE_MAX_DIMENSIONS} (sqlite-vec): use a model with fewer, or a postgres database",
                )
            )
        if base.db is not None and base.db not in db_ids:
            problems.append(
                Problem(at(where, i, "db"), f"unknown database '{base.db}': declare it in databases or fix the id")
            )
        elif types.get(base.db or default_db or "", "sqlite") == "redis":
            problems.append(
                Problem(
                    at(where, i, "db"),
                    "knowledge needs a sqlite or postgres database (with pgvector): Redis cannot hold it",
                )
            )
        key = (base.db, base.table_name)
        if key in tables:
            problems.append(
                Problem(
                    at(where, i, "table"),
                    f"table '{base.table_name}' is already used by knowledge base '{tables[key]}'",
                )
            )
        tables.setdefault(key, base.id)
    for kind, items in (("agents", doc.agents), ("teams", doc.teams)):
        for i, component in enumerate(items):
            if component.knowledge is not None and component.knowledge not in base_ids:
                problems.append(
                    Problem(
                        at(kind, i, "knowledge"),
                        f"unknown knowledge base '{component.knowledge}': declare it in {where} or fix the id",
                    )
                )
    return problems


def _shared_storage(databases: Sequence[DatabaseFields], at: _At) -> Iterator[Problem]:
    """Two declared databases on one server that would share tables or keys: a PostgreSQL schema
    (the runs table has one name in every schema, and its foreign key follows one sessions table),
    Redis key prefixes one of which holds the other's keys (``p`` holds ``p:sessions:...``), or
    one SQLite file (two connections writing one file wait on each other's locks, and each lists
    the other's sessions)."""
    for j, later in enumerate(databases):
        for earlier in databases[:j]:
            if later.type == earlier.type == "sqlite":
                file = _sqlite_file(later)
                if file is not None and file == _sqlite_file(earlier):
                    yield Problem(
                        at("databases", j, "path"),
                        f"database '{earlier.id}' uses the SQLite file '{file}' too: give each database a file"
                        " of its own, or declare one database and refer to it from both",
                    )
                continue
            if later.type != earlier.type or later.server() != earlier.server():
                continue
            if later.type == "postgres" and later.db_schema == earlier.db_schema:
                yield Problem(
                    at("databases", j, "db_schema"),
                    f"database '{earlier.id}' uses schema '{later.db_schema}' of the same server:"
                    " give each database a schema of its own",
                )
            if later.type == "redis" and _nested_prefixes(later.key_prefix, earlier.key_prefix):
                yield Problem(
                    at("databases", j, "key_prefix"),
                    f"database '{earlier.id}' keeps its keys under '{earlier.key_prefix}:' on the same server,"
                    f" and '{later.key_prefix}' would share them: give each database a prefix of its own",
                )


def _sqlite_file(database: DatabaseFields) -> str | None:
    """A SQLite database's ``path`` as set (``a/./b.db`` and ``a/b.db`` alike), or None when it
    has none (its file is then named by its id, which no other database has)."""
    path = getattr(database, "path", None)
    return posixpath.normpath(path) if isinstance(path, str) else None


def _nested_prefixes(one: str, other: str) -> bool:
    return one == other or one.startswith(other + ":") or other.startswith(one + ":")


def _spell(name: str, camel_case: bool) -> str:
    return to_camel(name) if camel_case else name


def _ids_of(doc: ConfigDocument, kind: str) -> list[str]:
    return [c.id for c in getattr(doc, kind)]


def _unique(problems: list[Problem], at: _At, kind: str, ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for index, item_id in enumerate(ids):
        if item_id in seen:
            problems.append(Problem(at(kind, index, "id"), f"duplicate id '{item_id}': ids must be unique"))
        seen.add(item_id)
    return seen


class _At(Protocol):
    def __call__(self, *parts: str | int) -> Path: ...


def _team_cycles(teams: Sequence[TeamConfig], at: _At) -> Iterator[Problem]:
    members = {t.id: [m for m in t.members if m != t.id] for t in teams}
    for index, team in enumerate(teams):
        stack, seen = list(members[team.id]), set()
        while stack:
            current = stack.pop()
            if current == team.id:
                yield Problem(at("teams", index, "members"), f"team '{team.id}' contains itself through its members")
                break
            if current not in seen:
                seen.add(current)
                stack.extend(members.get(current, []))


def _leaf_paths(step: WorkflowStep, path: Path, camel_case: bool) -> Iterator[tuple[Path, WorkflowStep | LeafStep]]:
    if step.agent is not None or step.team is not None:
        yield path, step
        return
    for field in ("parallel", "steps", "else_steps"):
        for k, leaf in enumerate(getattr(step, field) or []):
            yield path + (_spell(field, camel_case), k), leaf


def _ui_references(doc: ConfigDocument, at: _At, db_ids: set[str], component_ids: set[str]) -> Iterator[Problem]:
    for domain in DOMAINS:
        settings = getattr(doc, domain, None)
        if settings is None:
            continue
        for i, entry in enumerate(settings.dbs or []):
            if entry.db_id not in db_ids:
                yield Problem(
                    at(domain, "dbs", i, "db_id"),
                    f"unknown database '{entry.db_id}': declare it in databases or fix the id",
                )
        if isinstance(settings, KnowledgeSettings):
            for i, instance in enumerate(settings.knowledge_instances or []):
                if instance.db_id not in db_ids:
                    yield Problem(
                        at(domain, "knowledge_instances", i, "db_id"),
                        f"unknown database '{instance.db_id}': declare it in databases or fix the id",
                    )
    if doc.chat is not None:
        for key in doc.chat.quick_prompts or {}:
            if key not in component_ids:
                yield Problem(
                    at("chat", "quick_prompts") + (key,),
                    f"unknown agent, team or workflow '{key}': quick prompts are keyed by their ids",
                )
    for key in doc.manifest or {}:
        if key not in component_ids:
            yield Problem(
                at("manifest") + (key,),
                f"unknown agent, team or workflow '{key}': manifest entries are keyed by their ids",
            )
