"""``/ready`` says which knowledge bases the runtime could not set up or reach at its last try, and
why, without answering 503 for them: the agents still serve (their searches of such a base get a
tool error), and the pod stays behind its Service."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.api.harness import models_built, serve_on
from tests.runtime.knowledge.serving import knowledge_config, serve_knowledge
from tests.support.fake_openai import FakeOpenAIServer, fake_openai, fake_openai_server  # noqa: F401


async def test_ready_lists_each_knowledge_base_as_ok_once_set_up(
    fake_openai: FakeOpenAIServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = knowledge_config(fake_openai.base_url, {"id": "docs"}, {"id": "faq"})
    async with serve_knowledge("sqlite", config, tmp_path) as served:
        await models_built(served)
        ready = await served.client.get("/ready")

    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok"
    assert body["knowledge"] == {"docs": "ok", "faq": "ok"}
    assert "knowledge_reasons" not in body


async def test_a_knowledge_base_its_database_cannot_hold_is_unavailable_with_why_while_the_runtime_stays_ready(
    fake_openai: FakeOpenAIServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    # The shared PostgreSQL of scripts/services.sh has no pgvector: it cannot hold a knowledge base.
    config = knowledge_config(fake_openai.base_url, {"id": "docs"})
    async with serve_on("postgres", config, tmp_path) as served:
        await models_built(served)
        ready = await served.client.get("/ready")
        searched = await served.client.post("/knowledge/search", json={"query": "vacation"})

    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok"
    assert set(body["databases"].values()) == {"ok"}
    assert body["knowledge"] == {"docs": "unavailable"}
    reason = body["knowledge_reasons"]["docs"]
    assert "pgvector" in reason
    assert "127.0.0.1" not in reason and "postgresql://" not in reason and "5432" not in reason
    assert searched.status_code == 503
