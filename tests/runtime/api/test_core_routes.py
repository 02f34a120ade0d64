"""``/``, ``/health``, ``/ready``, ``/info``, ``/config`` and ``/models`` speak Agno's shapes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.api.harness import Served, models_built, serve

TWO_DATABASES = """
os_id: two-dbs
models:
  - id: fake
    model: fake-model
    api_key_env: null
databases:
  - id: main-db
    type: sqlite
  - id: cache-db
    type: sqlite
    tables: {sessions: my_sessions}
available_models: [fake]
session:
  display_name: My Sessions
  dbs:
    - db_id: cache-db
      domain_config: {display_name: Conversations}
chat:
  quick_prompts:
    assistant: ["Hi", "Add 2 and 3"]
manifest:
  assistant: {description: Demo card, labels: [demo]}
agents:
  - id: assistant
    name: Assistant
    db: main-db
teams:
  - id: crew
    members: [assistant]
workflows:
  - id: pipeline
    steps: [{name: first, agent: assistant}]
"""


async def test_root_names_the_api_and_its_os_id(embedded: Served) -> None:
    response = await embedded.client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "AgentOS API" and body["id"] == "test-os" and body["version"]


async def test_health_is_ok_with_the_start_time_in_iso_utc(embedded: Served) -> None:
    response = await embedded.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["instantiated_at"].endswith("Z")
    assert datetime.fromisoformat(body["instantiated_at"].replace("Z", "+00:00")) == embedded.context.started_at


async def test_info_counts_components_and_reports_no_auth(embedded: Served) -> None:
    body = (await embedded.client.get("/info")).json()
    assert body["os_id"] == "test-os" and body["name"] == "Test OS"
    assert (body["agent_count"], body["team_count"], body["workflow_count"]) == (1, 0, 0)
    assert body["auth_mode"] == "none"
    assert body["mcp"]["enabled"] is False


async def test_without_databases_declared_sessions_go_to_an_embedded_sqlite_file(
    embedded: Served, tmp_path: Path
) -> None:
    assert (tmp_path / "agentos.db").is_file()
    created = await embedded.client.post("/sessions", json={"session_id": "kept"})
    assert created.status_code == 201
    assert (await embedded.client.get("/sessions/kept")).status_code == 200


async def test_ready_is_ok_when_every_database_answers(embedded: Served) -> None:
    await models_built(embedded)
    response = await embedded.client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "databases": {"agentos-db": "ok"}}


class DownDatabase(InMemoryDatabase):
    async def ping(self) -> None:
        raise StorageUnavailable("database postgres://user:secret@db/x is down")


async def test_ready_is_503_when_a_database_is_down_while_health_stays_200(tmp_path: Path) -> None:
    async def opener(config, **_):  # type: ignore[no-untyped-def]
        return DownDatabase(id=config.id) if config.id == "cache-db" else InMemoryDatabase(id=config.id)

    async with serve(TWO_DATABASES, data_dir=tmp_path, open_database=opener) as running:
        ready = await running.client.get("/ready")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "unavailable",
            "databases": {"main-db": "ok", "cache-db": "unavailable"},
            "reasons": {"cache-db": "database postgres://***@db/x is down"},
        }
        assert "secret" not in ready.text
        assert (await running.client.get("/health")).status_code == 200


async def test_config_lists_the_agent_with_its_model_and_the_default_database(embedded: Served) -> None:
    body = (await embedded.client.get("/config")).json()
    assert body["os_id"] == "test-os"
    assert body["databases"] == ["agentos-db"] and body["os_database"] == "agentos-db"
    assert body["available_models"] == [{"id": "fake-model", "provider": "OpenAI"}]
    assert body["agents"] == [
        {
            "id": "assistant",
            "name": "Assistant",
            "description": "Answers questions.",
            "db_id": "agentos-db",
            "model": {"id": "fake-model", "provider": "OpenAI"},
            "sandboxed": False,
        }
    ]
    assert body["session"]["dbs"] == [
        {"db_id": "agentos-db", "domain_config": {"display_name": "agentos-db"}, "tables": ["agno_sessions"]}
    ]
    assert body["teams"] == [] and body["workflows"] == [] and body["interfaces"] == []
    assert "chat" not in body and "manifest" not in body
    assert body["company"] is None and body["queue"] == {"durable": False, "queue_per_session": False}


async def test_config_merges_domain_blocks_as_agno_does(tmp_path: Path) -> None:
    async with serve(TWO_DATABASES, data_dir=tmp_path) as running:
        body = (await running.client.get("/config")).json()
    assert body["databases"] == ["main-db", "cache-db"]
    assert body["os_database"] == "cache-db"
    assert body["session"] == {
        "display_name": "My Sessions",
        "dbs": [
            {"db_id": "cache-db", "domain_config": {"display_name": "Conversations"}},
            {"db_id": "main-db", "domain_config": {"display_name": "main-db"}, "tables": ["agno_sessions"]},
        ],
    }
    assert body["memory"]["dbs"][1] == {
        "db_id": "cache-db",
        "domain_config": {"display_name": "cache-db"},
        "tables": ["agno_memories"],
    }
    assert body["traces"] == {"dbs": [{"db_id": "cache-db", "domain_config": {"display_name": "cache-db"}}]}
    assert body["knowledge"] == {"dbs": [], "knowledge_instances": []}
    assert body["chat"] == {"quick_prompts": {"assistant": ["Hi", "Add 2 and 3"]}}
    assert body["manifest"] == {"assistant": {"description": "Demo card", "labels": ["demo"]}}
    assert body["teams"][0]["id"] == "crew" and body["teams"][0]["mode"] == "coordinate"
    assert body["teams"][0]["model"] == {"id": "fake-model", "provider": "OpenAI"}
    assert body["workflows"][0]["id"] == "pipeline" and body["workflows"][0]["db_id"] == "cache-db"


async def test_models_lists_each_model_in_use_once(tmp_path: Path) -> None:
    async with serve(TWO_DATABASES, data_dir=tmp_path) as running:
        response = await running.client.get("/models")
    assert response.status_code == 200
    assert response.json() == [{"id": "fake-model", "provider": "OpenAI"}]


async def test_docs_and_openapi_are_served(embedded: Served) -> None:
    assert (await embedded.client.get("/docs")).status_code == 200
    schema = (await embedded.client.get("/openapi.json")).json()
    assert "/sessions" in schema["paths"] and "/config" in schema["paths"]


async def test_a_trailing_slash_routes_like_the_path_without_it(embedded: Served) -> None:
    plain = await embedded.client.get("/config")
    slashed = await embedded.client.get("/config/")
    assert slashed.status_code == 200 and slashed.json() == plain.json()


async def test_cors_allows_the_agno_control_plane_with_credentials(embedded: Served) -> None:
    response = await embedded.client.options(
        "/config",
        headers={"Origin": "https://os.agno.com", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://os.agno.com"
    assert response.headers["access-control-allow-credentials"] == "true"
    denied = await embedded.client.options(
        "/config", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in denied.headers


async def test_extra_cors_origins_come_from_settings(tmp_path: Path) -> None:
    from tests.runtime.api.harness import BASIC_CONFIG

    async with serve(BASIC_CONFIG, data_dir=tmp_path, cors_origins=["https://ui.example"]) as running:
        response = await running.client.get("/health", headers={"Origin": "https://ui.example"})
    assert response.headers["access-control-allow-origin"] == "https://ui.example"


async def test_teams_are_listed_with_their_members_in_full(tmp_path: Path) -> None:
    async with serve(TWO_DATABASES, data_dir=tmp_path) as running:
        teams = (await running.client.get("/teams")).json()
        one = await running.client.get("/teams/crew")
        missing = await running.client.get("/teams/nope")
    assert [t["id"] for t in teams] == ["crew"]
    assert one.status_code == 200 and one.json() == teams[0]
    team = teams[0]
    assert team["mode"] == "coordinate" and team["db_id"] == "cache-db"
    assert team["model"] == {"name": "OpenAIChat", "model": "fake-model", "provider": "OpenAI"}
    assert [m["id"] for m in team["members"]] == ["assistant"]
    assert team["members"][0]["db_id"] == "main-db"
    assert missing.status_code == 404 and missing.json() == {"detail": "Team not found"}


async def test_workflows_are_listed_with_their_steps(tmp_path: Path) -> None:
    async with serve(TWO_DATABASES, data_dir=tmp_path) as running:
        listed = (await running.client.get("/workflows")).json()
        one = (await running.client.get("/workflows/pipeline")).json()
        missing = await running.client.get("/workflows/nope")
    assert listed == [
        {
            "id": "pipeline",
            "name": "pipeline",
            "db_id": "cache-db",
            "is_factory": False,
            "is_component": False,
            "sandboxed": False,
        }
    ]
    assert one["steps"] == [{"name": "first", "type": "Step", "agent": "assistant"}]
    assert missing.status_code == 404 and missing.json() == {"detail": "Workflow not found"}


async def test_a_method_not_allowed_names_every_method_the_path_serves(embedded: Served) -> None:
    """Starlette lists the methods of the first route matching the path; the path has more."""
    response = await embedded.client.put("/sessions/some-id")
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}
    allowed = set(response.headers["allow"].split(", "))
    assert {"GET", "DELETE"} <= allowed and "PUT" not in allowed
