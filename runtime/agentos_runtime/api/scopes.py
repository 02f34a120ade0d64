"""Agno's scope grammar and route-to-scope table, and the pure decisions made with them.

A scope is ``resource:action`` (every resource of a kind), ``resource:<id>:action`` (one),
``resource:*:action`` (any), or the admin scope (``agent_os:admin`` unless configured), which
grants everything; the legacy ``system:`` resource means ``config:``. Each route requires the
scopes Agno's ``get_default_scope_mappings()`` lists for it (first exact, then glob patterns in
order; ``*`` spans slashes), or, for the few routes Agno's table leaves out but Agno's route
checks itself (``ROUTE_GUARDS``: resuming a run's stream needs the run scope), those; a route
listed in neither requires none. On ``/agents|teams|workflows/<id>``
a scope of that family may name the id. Nothing here reads a request: ``authz`` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Literal

ResourceKind = Literal["agents", "teams", "workflows"]
WILDCARD = "*"
LEGACY_RESOURCES = {"system": "config"}

# Agno's route -> scope table (``agno/os/scopes.py``), as data, in Agno's matching order.
ROUTE_SCOPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GET /config", ("config:read",)),
    ("GET /models", ("config:read",)),
    ("GET /agents", ("agents:read",)),
    ("GET /agents/*", ("agents:read",)),
    ("POST /agents", ("agents:write",)),
    ("PATCH /agents/*", ("agents:write",)),
    ("DELETE /agents/*", ("agents:delete",)),
    ("POST /agents/*/runs", ("agents:run",)),
    ("POST /agents/*/runs/*/continue", ("agents:run",)),
    ("POST /agents/*/runs/*/cancel", ("agents:run",)),
    ("GET /teams", ("teams:read",)),
    ("GET /teams/*", ("teams:read",)),
    ("POST /teams", ("teams:write",)),
    ("PATCH /teams/*", ("teams:write",)),
    ("DELETE /teams/*", ("teams:delete",)),
    ("POST /teams/*/runs", ("teams:run",)),
    ("POST /teams/*/runs/*/continue", ("teams:run",)),
    ("POST /teams/*/runs/*/cancel", ("teams:run",)),
    ("GET /workflows", ("workflows:read",)),
    ("GET /workflows/*", ("workflows:read",)),
    ("POST /workflows", ("workflows:write",)),
    ("PATCH /workflows/*", ("workflows:write",)),
    ("DELETE /workflows/*", ("workflows:delete",)),
    ("POST /workflows/*/runs", ("workflows:run",)),
    ("POST /workflows/*/runs/*/continue", ("workflows:run",)),
    ("POST /workflows/*/runs/*/cancel", ("workflows:run",)),
    ("GET /sessions", ("sessions:read",)),
    ("GET /sessions/*", ("sessions:read",)),
    ("POST /sessions", ("sessions:write",)),
    ("POST /sessions/*/rename", ("sessions:write",)),
    ("PATCH /sessions/*", ("sessions:write",)),
    ("DELETE /sessions", ("sessions:delete",)),
    ("DELETE /sessions/*", ("sessions:delete",)),
    ("GET /memories", ("memories:read",)),
    ("GET /memories/*", ("memories:read",)),
    ("GET /memory_topics", ("memories:read",)),
    ("GET /user_memory_stats", ("memories:read",)),
    ("POST /memories", ("memories:write",)),
    ("PATCH /memories/*", ("memories:write",)),
    ("DELETE /memories", ("memories:delete",)),
    ("DELETE /memories/*", ("memories:delete",)),
    ("POST /optimize-memories", ("memories:write",)),
    ("GET /learnings", ("learnings:read",)),
    ("GET /learnings/*", ("learnings:read",)),
    ("POST /learnings", ("learnings:write",)),
    ("PATCH /learnings/*", ("learnings:write",)),
    ("DELETE /learnings/*", ("learnings:delete",)),
    ("GET /knowledge/content", ("knowledge:read",)),
    ("GET /knowledge/content/*", ("knowledge:read",)),
    ("GET /knowledge/config", ("knowledge:read",)),
    ("POST /knowledge/content", ("knowledge:write",)),
    ("POST /knowledge/content/*/refresh", ("knowledge:write",)),
    ("PATCH /knowledge/content/*", ("knowledge:write",)),
    ("POST /knowledge/search", ("knowledge:read",)),
    ("DELETE /knowledge/content", ("knowledge:delete",)),
    ("DELETE /knowledge/content/*", ("knowledge:delete",)),
    ("GET /metrics", ("metrics:read",)),
    ("POST /metrics/refresh", ("metrics:write",)),
    ("GET /metrics/refresh/status", ("metrics:read",)),
    ("GET /eval-runs", ("evals:read",)),
    ("GET /eval-runs/*", ("evals:read",)),
    ("POST /eval-runs", ("evals:write",)),
    ("PATCH /eval-runs/*", ("evals:write",)),
    ("DELETE /eval-runs", ("evals:delete",)),
    ("GET /traces", ("traces:read",)),
    ("GET /traces/*", ("traces:read",)),
    ("GET /trace_session_stats", ("traces:read",)),
    ("POST /service-accounts", ("service_accounts:write",)),
    ("GET /service-accounts", ("service_accounts:read",)),
    ("DELETE /service-accounts/*", ("service_accounts:delete",)),
    ("GET /schedules", ("schedules:read",)),
    ("GET /schedules/*", ("schedules:read",)),
    ("POST /schedules", ("schedules:write",)),
    ("PATCH /schedules/*", ("schedules:write",)),
    ("DELETE /schedules/*", ("schedules:delete",)),
    ("POST /schedules/*/enable", ("schedules:write",)),
    ("POST /schedules/*/disable", ("schedules:write",)),
    ("POST /schedules/*/trigger", ("schedules:write",)),
    ("GET /schedules/*/runs", ("schedules:read",)),
    ("GET /schedules/*/runs/*", ("schedules:read",)),
    ("GET /approvals", ("approvals:read",)),
    ("GET /approvals/count", ("approvals:read",)),
    ("GET /approvals/*", ("approvals:read",)),
    ("GET /approvals/*/status", ("approvals:read",)),
    ("POST /approvals/*/resolve", ("approvals:write",)),
    ("DELETE /approvals/*", ("approvals:delete",)),
    ("POST /traces/search", ("traces:read",)),
    ("POST /databases/all/migrate", ("config:write",)),
    ("POST /databases/*/migrate", ("config:write",)),
    ("POST /knowledge/remote-content", ("knowledge:write",)),
    ("GET /knowledge/*/sources", ("knowledge:read",)),
    ("GET /knowledge/*/sources/*/files", ("knowledge:read",)),
    ("GET /filesystem/*", ("filesystem:read",)),
    ("GET /registry", ("registry:read",)),
    ("GET /components", ("components:read",)),
    ("GET /components/*", ("components:read",)),
    ("POST /components", ("components:write",)),
    ("PATCH /components/*", ("components:write",)),
    ("DELETE /components/*", ("components:delete",)),
    ("POST /components/*/restore", ("components:delete",)),
    ("GET /components/*/configs", ("components:read",)),
    ("GET /components/*/configs/*", ("components:read",)),
    ("GET /components/*/configs/current", ("components:read",)),
    ("POST /components/*/configs", ("components:write",)),
    ("PATCH /components/*/configs/*", ("components:write",)),
    ("DELETE /components/*/configs/*", ("components:delete",)),
    ("POST /components/*/configs/*/set-current", ("components:write",)),
)
_EXACT = dict(ROUTE_SCOPES)

# Routes Agno's table does not list but whose handlers require these scopes (its route dependency
# ``require_resource_access(<kind>, "run", <id>)``), so that a token without them gets 403 as there.
ROUTE_GUARDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("POST /agents/*/runs/*/resume", ("agents:run",)),
    ("POST /teams/*/runs/*/resume", ("teams:run",)),
    ("POST /workflows/*/runs/*/resume", ("workflows:run",)),
)

_RESOURCE_PATH = re.compile(r"^/(agents|teams|workflows)(?:/([^/]+))?")


@dataclass(frozen=True)
class Scope:
    """One parsed scope; ``admin`` grants everything, ``resource`` is ``None`` for a malformed one."""

    resource: str | None
    action: str | None = None
    resource_id: str | None = None
    """``None`` for every resource of the kind, ``*`` for any, else one id."""
    admin: bool = False

    @property
    def covers_every_id(self) -> bool:
        return self.resource_id is None or self.resource_id == WILDCARD


ADMIN = Scope(resource=None, admin=True)
MALFORMED = Scope(resource=None)


def parse_scope(text: str, *, admin_scope: str) -> Scope:
    """The scope ``text`` means; a string of another shape is ``MALFORMED`` and grants nothing."""
    if text == admin_scope:
        return ADMIN
    parts = text.split(":")
    if len(parts) == 2:
        return Scope(resource=LEGACY_RESOURCES.get(parts[0], parts[0]), action=parts[1])
    if len(parts) == 3:
        return Scope(resource=LEGACY_RESOURCES.get(parts[0], parts[0]), action=parts[2], resource_id=parts[1])
    return MALFORMED


def parse_scopes(texts: Iterable[str], *, admin_scope: str) -> tuple[Scope, ...]:
    return tuple(parse_scope(text, admin_scope=admin_scope) for text in texts)


def required_scopes(method: str, path: str) -> tuple[str, ...]:
    """The scopes Agno requires for ``method path``; empty for a route it does not list."""
    key = f"{method} {path}"
    exact = _EXACT.get(key)
    if exact is not None:
        return exact
    for pattern, scopes in ROUTE_SCOPES:
        if fnmatchcase(key, pattern):
            return scopes
    for pattern, scopes in ROUTE_GUARDS:
        if fnmatchcase(key, pattern):
            return scopes
    return ()


def resource_of(path: str) -> tuple[ResourceKind | None, str | None]:
    """``("agents", "a1")`` for ``/agents/a1/runs``; ``(kind, None)`` for a listing; else ``(None, None)``."""
    match = _RESOURCE_PATH.match(path)
    if match is None:
        return None, None
    kind: ResourceKind = match.group(1)  # type: ignore[assignment]  # the pattern admits only these
    return kind, match.group(2)


def is_admin(held: Sequence[Scope]) -> bool:
    return any(scope.admin for scope in held)


def grants(held: Sequence[Scope], required: str, *, kind: str | None = None, resource_id: str | None = None) -> bool:
    """Whether ``held`` satisfies ``required`` (``resource:action``) on the resource in the path.

    The id only matters when ``required`` is of the path's own family: ``agents:a1:read`` never
    satisfies ``sessions:read`` on ``/agents/a1/...``.
    """
    wanted = _required(required)
    if wanted.resource is None:
        return is_admin(held)
    on_id = resource_id if kind is not None and wanted.resource == kind and wanted.resource_id is None else None
    for scope in held:
        if scope.admin:
            return True
        if scope.resource != wanted.resource or scope.action != wanted.action:
            continue
        if on_id is not None:
            if scope.covers_every_id or scope.resource_id == on_id:
                return True
        elif scope.covers_every_id:
            return True
    return False


@lru_cache(maxsize=256)
def _required(text: str) -> Scope:
    """A required scope, parsed once (route tables are small)."""
    return parse_scope(text, admin_scope="")


def grants_all(held: Sequence[Scope], required: Sequence[str], *, path: str) -> bool:
    """Whether ``held`` satisfies every scope in ``required`` for a request on ``path``."""
    kind, resource_id = resource_of(path)
    return all(grants(held, scope, kind=kind, resource_id=resource_id) for scope in required)


def accessible_ids(held: Sequence[Scope], kind: str, *, action: str) -> frozenset[str]:
    """Ids of ``kind`` that ``held`` grants ``action`` on: ``{"*"}`` means every one."""
    ids: set[str] = set()
    for scope in held:
        if scope.admin:
            return frozenset({WILDCARD})
        if scope.resource != kind or scope.action != action:
            continue
        if scope.covers_every_id:
            return frozenset({WILDCARD})
        assert scope.resource_id is not None
        ids.add(scope.resource_id)
    return frozenset(ids)


def insufficient_permissions(required: Sequence[str]) -> str:
    """Agno's 403 detail, word for word."""
    base = "Insufficient permissions"
    return f"{base}. Required scope(s): {', '.join(required)}" if required else base
