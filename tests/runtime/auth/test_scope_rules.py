"""Agno's scope grammar and route table, decided the way Agno decides them.

Besides examples, the table is compared with Agno's own ``get_default_scope_mappings()`` and the
route decision with Agno's ``check_route_scopes`` over a matrix of tokens and routes, so a
difference in reading a scope shows up here.
"""

from __future__ import annotations

import pytest
from agentos_runtime.api import scopes
from agentos_runtime.api.authz import Caller, caller_for, check_route, route_scopes
from agentos_runtime.api.jwt_tokens import Claims
from agno.os.scopes import check_route_scopes, get_default_scope_mappings
from fastapi import HTTPException

ADMIN = "agent_os:admin"


def held(*texts: str) -> tuple[scopes.Scope, ...]:
    return scopes.parse_scopes(texts, admin_scope=ADMIN)


def caller(*texts: str) -> Caller:
    claims = Claims(user_id="u", scopes=texts, session_id=None, expires_at=None)
    return caller_for(claims, admin_scope=ADMIN, user_isolation=False)


def test_the_route_table_is_agnos_default_table_in_agnos_order() -> None:
    ours = [(pattern, list(required)) for pattern, required in scopes.ROUTE_SCOPES]
    assert ours == list(get_default_scope_mappings().items())


def test_scopes_parse_into_resource_id_and_action() -> None:
    assert scopes.parse_scope("agents:read", admin_scope=ADMIN) == scopes.Scope("agents", "read")
    assert scopes.parse_scope("agents:web:run", admin_scope=ADMIN) == scopes.Scope("agents", "run", "web")
    assert scopes.parse_scope("agents:*:run", admin_scope=ADMIN).covers_every_id
    assert scopes.parse_scope("system:read", admin_scope=ADMIN) == scopes.Scope("config", "read")
    assert scopes.parse_scope(ADMIN, admin_scope=ADMIN).admin
    assert scopes.parse_scope("nonsense", admin_scope=ADMIN) == scopes.MALFORMED


def test_a_configured_admin_scope_replaces_agent_os_admin() -> None:
    assert scopes.parse_scope("root", admin_scope="root").admin
    assert not scopes.parse_scope(ADMIN, admin_scope="root").admin


@pytest.mark.parametrize(
    ("held_scopes", "required", "path", "granted"),
    [
        (["agents:read"], "agents:read", "/agents/a1", True),
        (["agents:a1:read"], "agents:read", "/agents/a1", True),
        (["agents:a1:read"], "agents:read", "/agents/a2", False),
        (["agents:*:run"], "agents:run", "/agents/a2/runs", True),
        (["agents:a1:read"], "agents:run", "/agents/a1/runs", False),
        (["agents:a1:read"], "agents:read", "/agents", False),
        (["agents:a1:read"], "sessions:read", "/agents/a1", False),
        (["system:read"], "config:read", "/config", True),
        (["teams:t1:run"], "teams:run", "/teams/t1/runs", True),
        ([ADMIN], "anything:at_all", "/x", True),
        (["malformed"], "config:read", "/config", False),
    ],
)
def test_grants_follow_agnos_matching(held_scopes: list[str], required: str, path: str, granted: bool) -> None:
    assert scopes.grants_all(held(*held_scopes), [required], path=path) is granted


def test_required_scopes_come_first_from_exact_entries_then_from_patterns() -> None:
    assert scopes.required_scopes("GET", "/config") == ("config:read",)
    assert scopes.required_scopes("GET", "/agents/a1/runs/r1") == ("agents:read",)
    assert scopes.required_scopes("POST", "/agents/a1/runs/r1/cancel") == ("agents:run",)
    assert scopes.required_scopes("DELETE", "/sessions/s1") == ("sessions:delete",)
    assert scopes.required_scopes("GET", "/ready") == ()


def test_resuming_a_runs_stream_needs_the_run_scope_as_agnos_route_requires_it() -> None:
    for kind in ("agents", "teams", "workflows"):
        assert scopes.required_scopes("POST", f"/{kind}/x/runs/r/resume") == (f"{kind}:run",)
        assert route_scopes("POST", f"/{kind}/{{id}}/runs/{{run_id}}/resume") == (f"{kind}:run",)


def test_a_route_template_requires_what_its_paths_require() -> None:
    assert route_scopes("GET", "/sessions/{session_id}/runs/{run_id}") == ("sessions:read",)
    assert route_scopes("POST", "/agents/{agent_id}/runs") == ("agents:run",)


def test_accessible_ids_list_per_id_scopes_or_everything() -> None:
    assert scopes.accessible_ids(held("agents:a1:read", "agents:a2:run"), "agents", action="read") == {"a1"}
    assert scopes.accessible_ids(held("agents:*:read"), "agents", action="read") == {"*"}
    assert scopes.accessible_ids(held("agents:read"), "agents", action="read") == {"*"}
    assert scopes.accessible_ids(held(ADMIN), "teams", action="read") == {"*"}
    assert scopes.accessible_ids(held("teams:t1:read"), "agents", action="read") == set()


def test_the_403_detail_is_agnos() -> None:
    assert scopes.insufficient_permissions(["agents:run"]) == "Insufficient permissions. Required scope(s): agents:run"


TOKENS = [
    [],
    [ADMIN],
    ["config:read"],
    ["system:read"],
    ["agents:read"],
    ["agents:run"],
    ["agents:a1:read"],
    ["agents:a1:run"],
    ["agents:*:run", "agents:a1:read"],
    ["teams:t1:read", "teams:t1:run"],
    ["workflows:*:read"],
    ["sessions:read", "sessions:write"],
    ["sessions:delete", "memories:read"],
    ["agents:a1:read", "sessions:read"],
]
ROUTES = [
    ("GET", "/config", "/config"),
    ("GET", "/models", "/models"),
    ("GET", "/agents", "/agents"),
    ("GET", "/agents/{agent_id}", "/agents/a1"),
    ("GET", "/agents/{agent_id}", "/agents/a2"),
    ("POST", "/agents/{agent_id}/runs", "/agents/a1/runs"),
    ("POST", "/agents/{agent_id}/runs", "/agents/a2/runs"),
    ("POST", "/agents/{agent_id}/runs/{run_id}/cancel", "/agents/a1/runs/r1/cancel"),
    ("GET", "/agents/{agent_id}/runs", "/agents/a1/runs"),
    ("GET", "/teams", "/teams"),
    ("GET", "/teams/{team_id}", "/teams/t1"),
    ("POST", "/teams/{team_id}/runs", "/teams/t1/runs"),
    ("GET", "/workflows", "/workflows"),
    ("GET", "/sessions", "/sessions"),
    ("GET", "/sessions/{session_id}/runs", "/sessions/s1/runs"),
    ("POST", "/sessions/{session_id}/rename", "/sessions/s1/rename"),
    ("DELETE", "/sessions", "/sessions"),
    ("GET", "/memories", "/memories"),
    ("GET", "/ready", "/ready"),
]


@pytest.mark.parametrize("token_scopes", TOKENS, ids=lambda t: ",".join(t) or "none")
@pytest.mark.parametrize(("method", "template", "path"), ROUTES)
def test_route_decisions_match_agnos_check_route_scopes(
    token_scopes: list[str], method: str, template: str, path: str
) -> None:
    expected = check_route_scopes(token_scopes, get_default_scope_mappings(), method, path, admin_scope=ADMIN)
    try:
        check_route(caller(*token_scopes), method, template, path)
        allowed = True
    except HTTPException as refused:
        assert refused.status_code == 403
        assert refused.detail == scopes.insufficient_permissions(expected.required_scopes)
        allowed = False
    assert allowed is expected.allowed
