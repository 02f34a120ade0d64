"""JWT mode over HTTP: Agno's 401 and 403 texts, per-id scopes, filtered listings, key sources.

The protected routes are read from the app's own route table, so a route added later is
covered without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.api.jwt_keys import KeySetupError
from agentos_runtime.app import create_app
from agentos_runtime.config import parse_config_text
from agentos_runtime.settings import Settings

from tests.runtime.api.harness import Served
from tests.runtime.auth.apps import auth_config, jwt_app
from tests.runtime.auth.tokens import HS_SECRET, bearer, mint, public_pem, rsa_private_key, write_jwks
from tests.support.fake_openai import FakeOpenAIServer, Reply

ADMIN = ["agent_os:admin"]
PUBLIC = {("GET", "/"), ("GET", "/health"), ("GET", "/ready"), ("GET", "/info")}


def route_table() -> list[tuple[str, str]]:
    app = create_app(Settings(), parse_config_text(auth_config()))
    routes = []
    for template, operations in app.openapi()["paths"].items():
        path = re.sub(r"\{(\w+)\}", lambda m: "assistant" if m.group(1) == "agent_id" else "x-1", template)
        routes += [(method.upper(), path) for method in operations]
    return routes


PROTECTED = [route for route in route_table() if route not in PUBLIC]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Served]:
    async with jwt_app(tmp_path) as served:
        yield served


async def get(app: Served, path: str, scopes: list[str] | str | None, **claims: Any) -> tuple[int, Any]:
    response = await app.client.get(path, headers=bearer(mint(scopes=scopes, **claims)))
    return response.status_code, response.json()


async def test_info_reports_jwt_mode(app: Served) -> None:
    info = (await app.client.get("/info")).json()
    assert info["auth_mode"] == "jwt" and info["user_isolation"] is False


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_a_protected_route_without_a_token_is_401(app: Served, method: str, path: str) -> None:
    response = await app.client.request(method, path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authorization header missing"}


@pytest.mark.parametrize(("method", "path"), [route for route in PROTECTED if route[0] in ("POST", "PATCH", "PUT")])
async def test_a_caller_without_a_token_or_the_scope_hears_so_before_its_broken_body_is_read(
    app: Served, method: str, path: str
) -> None:
    broken = {"content": b'{"broken": ', "headers": {"content-type": "application/json"}}
    missing = await app.client.request(method, path, **broken)
    assert (missing.status_code, missing.json()) == (401, {"detail": "Authorization header missing"})
    no_scope = {"content-type": "application/json", **bearer(mint(scopes=[]))}
    refused = await app.client.request(method, path, content=b'{"broken": ', headers=no_scope)
    assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_the_admin_scope_passes_every_protected_route(app: Served, method: str, path: str) -> None:
    response = await app.client.request(method, path, headers=bearer(mint(scopes=ADMIN)))
    assert response.status_code not in (401, 403), response.text


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC) + [("GET", "/docs"), ("GET", "/openapi.json")])
async def test_public_routes_need_no_token(app: Served, method: str, path: str) -> None:
    assert (await app.client.request(method, path)).status_code == 200


async def test_a_valid_token_with_the_route_scope_is_served(app: Served) -> None:
    status, body = await get(app, "/config", ["config:read"])
    assert status == 200 and body["os_id"] == "auth-os"


async def test_a_missing_scope_is_403_with_agnos_text(app: Served) -> None:
    assert await get(app, "/config", ["agents:read"]) == (
        403,
        {"detail": "Insufficient permissions. Required scope(s): config:read"},
    )


async def test_refusals_carry_cors_headers_so_the_control_plane_can_read_them(app: Served) -> None:
    origin = {"Origin": "https://os.agno.com"}
    missing = await app.client.get("/config", headers=origin)
    refused = await app.client.get("/config", headers={**origin, **bearer(mint(scopes=["agents:read"]))})
    for response in (missing, refused):
        assert response.headers["access-control-allow-origin"] == "https://os.agno.com"
    assert (missing.status_code, refused.status_code) == (401, 403)


async def test_an_expired_token_is_401(app: Served) -> None:
    assert await get(app, "/config", ["config:read"], expires_in=-60) == (401, {"detail": "Token has expired"})


async def test_a_token_signed_with_another_key_is_401(app: Served) -> None:
    token = mint("some-other-secret-that-is-long-enough-for-hs256", scopes=ADMIN)
    response = await app.client.get("/config", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token: Signature verification failed"}


async def test_a_bare_token_without_the_bearer_word_is_read_as_agno_reads_it(app: Served) -> None:
    response = await app.client.get("/config", headers={"Authorization": mint(scopes=["config:read"])})
    assert response.status_code == 200


async def test_scopes_may_come_as_one_space_separated_string(app: Served) -> None:
    assert (await get(app, "/models", "agents:read config:read"))[0] == 200


async def test_a_per_agent_scope_opens_that_agent_only(app: Served) -> None:
    scopes = ["agents:assistant:read"]
    assert (await get(app, "/agents/assistant", scopes))[0] == 200
    assert await get(app, "/agents/second", scopes) == (
        403,
        {"detail": "Insufficient permissions. Required scope(s): agents:read"},
    )


async def test_a_read_scope_does_not_run(app: Served) -> None:
    response = await app.client.post(
        "/agents/assistant/runs",
        data={"message": "hi", "stream": "false"},
        headers=bearer(mint(scopes=["agents:assistant:read"])),
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Insufficient permissions. Required scope(s): agents:run"}


async def test_a_per_agent_run_scope_runs_that_agent_only(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Hello"))
    headers = bearer(mint(scopes=["agents:assistant:run"], sub="alice"))
    async with jwt_app(tmp_path, auth_config(fake_openai.base_url)) as app:
        ran = await app.client.post(
            "/agents/assistant/runs", data={"message": "hi", "stream": "false", "user_id": "mallory"}, headers=headers
        )
        refused = await app.client.post("/agents/second/runs", data={"message": "hi"}, headers=headers)
    assert ran.status_code == 200 and ran.json()["status"] == "COMPLETED"
    assert ran.json()["user_id"] == "alice"  # the token's sub wins over the form's user_id
    assert refused.status_code == 403 and len(fake_openai.requests) == 1


async def test_listings_show_only_what_per_id_scopes_grant(app: Served) -> None:
    scopes = ["agents:second:read", "teams:team-a:read", "workflows:*:read"]
    assert [a["id"] for a in (await get(app, "/agents", scopes))[1]] == ["second"]
    assert [t["id"] for t in (await get(app, "/teams", scopes))[1]] == ["team-a"]
    workflows = (await get(app, "/workflows", scopes))[1]
    assert [w["id"] for w in workflows] == ["flow-a", "flow-b"]


async def test_a_listing_without_any_scope_of_its_kind_is_403(app: Served) -> None:
    assert await get(app, "/agents", ["agents:assistant:run", "teams:read"]) == (
        403,
        {"detail": "Insufficient permissions. Required scope(s): agents:read"},
    )
    assert (await get(app, "/teams", ["teams:read"]))[0] == 200


async def test_config_lists_only_the_components_the_caller_may_read(app: Served) -> None:
    status, body = await get(app, "/config", ["config:read", "agents:second:read"])
    assert status == 200
    assert [a["id"] for a in body["agents"]] == ["second"]
    assert body["teams"] == [] and body["workflows"] == []
    full = (await get(app, "/config", ADMIN))[1]
    assert [a["id"] for a in full["agents"]] == ["assistant", "second"]
    assert [t["id"] for t in full["teams"]] == ["team-a", "team-b"]


async def test_a_custom_admin_scope_replaces_agent_os_admin(tmp_path: Path) -> None:
    async with jwt_app(tmp_path, auth_config(admin_scope="platform:root")) as app:
        assert (await get(app, "/config", ["platform:root"]))[0] == 200
        assert (await get(app, "/config", ADMIN))[0] == 403


async def test_the_configured_audience_is_checked(tmp_path: Path) -> None:
    async with jwt_app(tmp_path, auth_config(audience=["auth-os-prod"])) as app:
        assert (await get(app, "/config", ADMIN, aud="auth-os-prod"))[0] == 200
        assert await get(app, "/config", ADMIN, aud="elsewhere") == (
            401,
            {"detail": "Invalid token audience - token not valid for this AgentOS instance"},
        )


async def test_verify_audience_without_an_audience_expects_the_os_id(tmp_path: Path) -> None:
    async with jwt_app(tmp_path, auth_config(verify_audience=True)) as app:
        assert (await get(app, "/config", ADMIN, aud="auth-os"))[0] == 200
        assert (await get(app, "/config", ADMIN, aud="other-os"))[0] == 401


async def test_jwt_wins_over_the_security_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with jwt_app(tmp_path, security_key="the-old-security-key") as app:
        assert "only JWTs are accepted" in caplog.text and "the-old-security-key" not in caplog.text
        assert (await app.client.get("/info")).json()["auth_mode"] == "jwt"
        by_key = await app.client.get("/config", headers=bearer("the-old-security-key"))
        assert by_key.status_code == 401 and by_key.json()["detail"].startswith("Invalid token: ")
        assert (await get(app, "/config", ["config:read"]))[0] == 200


async def test_rs256_tokens_verify_with_a_public_key_from_the_environment(tmp_path: Path) -> None:
    private = rsa_private_key()
    async with jwt_app(tmp_path, jwt_verification_key=public_pem(private)) as app:
        token = mint(private, algorithm="RS256", scopes=["config:read"])
        assert (await app.client.get("/config", headers=bearer(token))).status_code == 200
        hmac_token = mint(scopes=["config:read"])
        assert (await app.client.get("/config", headers=bearer(hmac_token))).status_code == 401


async def test_tokens_verify_with_a_jwks_file(tmp_path: Path) -> None:
    signer = rsa_private_key("jwks-signer")
    jwks = write_jwks(tmp_path / "jwks.json", {"key-1": signer})
    async with jwt_app(tmp_path, jwt_verification_key=None, jwt_jwks_file=jwks) as app:
        token = mint(signer, algorithm="RS256", kid="key-1", scopes=["config:read"])
        assert (await app.client.get("/config", headers=bearer(token))).status_code == 200
        assert (await app.client.get("/info")).json()["auth_mode"] == "jwt"


def test_an_authorization_block_without_a_key_does_not_start(tmp_path: Path) -> None:
    config = parse_config_text(auth_config(user_isolation=True))
    with pytest.raises(KeySetupError, match="needs JWT_VERIFICATION_KEY or JWT_JWKS_FILE"):
        create_app(Settings(data_dir=tmp_path), config)


async def test_the_key_never_appears_in_an_answer(app: Served) -> None:
    for path in ("/", "/info", "/config", "/openapi.json", "/agents"):
        for headers in ({}, bearer(mint(scopes=ADMIN)), bearer("garbage")):
            assert HS_SECRET not in (await app.client.get(path, headers=headers)).text


@pytest.mark.parametrize(
    ("body", "scopes", "refusal"),
    [
        ({"agent_id": "assistant"}, ["evals:write", "evals:read"], "Access denied to run this agent"),
        ({"agent_id": "assistant"}, ["evals:write", "agents:second:run"], "Access denied to run this agent"),
        ({"team_id": "team-a"}, ["evals:write", "agents:run"], "Access denied to run this team"),
        ({"agent_id": "no-such-agent"}, ["evals:write"], "Access denied to run this agent"),
    ],
    ids=["evals-scopes-only", "another-agents-run-scope", "agents-run-for-a-team", "an-unknown-agent"],
)
async def test_an_eval_needs_the_right_to_run_its_target_and_calls_no_model_without_it(
    tmp_path: Path, fake_openai: FakeOpenAIServer, body: dict[str, str], scopes: list[str], refusal: str
) -> None:
    # An eval runs its target with real model calls: evals:write alone ran any agent or team.
    async with jwt_app(tmp_path, auth_config(fake_openai.base_url)) as app:
        eval_run = {**body, "eval_type": "performance", "input": "Hi", "num_iterations": 1}
        response = await app.client.post("/eval-runs", json=eval_run, headers=bearer(mint(scopes=scopes)))

        assert (response.status_code, response.json()) == (403, {"detail": refusal})
        assert fake_openai.requests == []


async def test_an_eval_runs_with_the_right_to_run_its_target(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    async with jwt_app(tmp_path, auth_config(fake_openai.base_url)) as app:
        fake_openai.app.default = Reply.say("Hello")  # a performance eval warms up first
        eval_run = {"agent_id": "assistant", "eval_type": "performance", "input": "Hi", "num_iterations": 1}
        token = mint(scopes=["evals:write", "agents:assistant:run"])

        response = await app.client.post("/eval-runs", json=eval_run, headers=bearer(token))

        assert response.status_code == 200, response.text
        assert len(fake_openai.requests) >= 1
