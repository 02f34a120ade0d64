"""``OS_SECURITY_KEY``: every route but the public ones needs ``Authorization: Bearer <key>``.

The protected routes are read from the app's own route table, so a route added later
without the dependency fails here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agentos_runtime.api.auth import bearer_token
from agentos_runtime.app import create_app
from agentos_runtime.config import parse_config_text
from agentos_runtime.settings import Settings

from tests.runtime.api.harness import BASIC_CONFIG, Served, serve

KEY = "s3cret-key"
PUBLIC = {("GET", "/"), ("GET", "/health"), ("GET", "/ready"), ("GET", "/info")}
DOCS = ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"]


def route_table() -> list[tuple[str, str]]:
    app = create_app(Settings(), parse_config_text(BASIC_CONFIG))
    routes = []
    for template, operations in app.openapi()["paths"].items():
        path = re.sub(r"\{(\w+)\}", lambda m: "assistant" if m.group(1) == "agent_id" else "x-1", template)
        routes += [(method.upper(), path) for method in operations]
    return routes


PROTECTED = [r for r in route_table() if r not in PUBLIC]


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Served]:
    async with serve(BASIC_CONFIG, data_dir=tmp_path, security_key=KEY) as running:
        yield running


def test_the_route_table_has_protected_routes_for_every_resource() -> None:
    paths = {path for _, path in PROTECTED}
    assert {"/config", "/models", "/sessions", "/sessions/x-1", "/sessions/x-1/runs"} <= paths


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_a_protected_route_without_a_header_is_401(secured: Served, method: str, path: str) -> None:
    response = await secured.client.request(method, path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authorization header required"}


BAD_BODIES = {
    "json": (b'{"broken": ', "application/json"),
    "multipart": (b"--b\r\nnot a part", "multipart/form-data; boundary=b"),
    "form": (b"%zz=%", "application/x-www-form-urlencoded"),
}


@pytest.mark.parametrize("body", sorted(BAD_BODIES))
@pytest.mark.parametrize(("method", "path"), [route for route in PROTECTED if route[0] in ("POST", "PATCH", "PUT")])
async def test_a_protected_route_without_a_header_is_401_before_its_broken_body_is_read(
    secured: Served, method: str, path: str, body: str
) -> None:
    content, content_type = BAD_BODIES[body]
    response = await secured.client.request(method, path, content=content, headers={"content-type": content_type})
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "Authorization header required"}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_a_protected_route_with_a_wrong_key_is_401(secured: Served, method: str, path: str) -> None:
    response = await secured.client.request(method, path, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid authentication token"}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_a_protected_route_with_the_key_is_not_401(secured: Served, method: str, path: str) -> None:
    response = await secured.client.request(method, path, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code != 401


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
async def test_public_routes_answer_without_a_key(secured: Served, method: str, path: str) -> None:
    response = await secured.client.request(method, path)
    assert response.status_code == 200


@pytest.mark.parametrize("path", DOCS)
async def test_docs_are_public(secured: Served, path: str) -> None:
    response = await secured.client.get(path)
    assert response.status_code == 200


async def test_a_non_bearer_scheme_counts_as_no_header(secured: Served) -> None:
    response = await secured.client.get("/config", headers={"Authorization": f"Basic {KEY}"})
    assert response.status_code == 401 and response.json() == {"detail": "Authorization header required"}


async def test_info_reports_security_key_mode(secured: Served) -> None:
    assert (await secured.client.get("/info")).json()["auth_mode"] == "security_key"


async def test_without_a_key_protected_routes_are_open(served: Served) -> None:
    assert (await served.client.get("/config")).status_code == 200


async def test_the_key_never_appears_in_an_answer(secured: Served) -> None:
    for path in ("/", "/info", "/config", "/openapi.json"):
        response = await secured.client.get(path, headers={"Authorization": f"Bearer {KEY}"})
        assert KEY not in response.text


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Bearer") is None
    assert bearer_token("Token abc") is None
    assert bearer_token(None) is None
