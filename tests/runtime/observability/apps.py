"""An app served in process with its metrics at hand, on one isolated storage backend.

Like the API harness, but keeps the app's ``RuntimeMetrics`` (``app.state.telemetry``), and
``scrape`` reads them the way Prometheus does: over HTTP from the metrics server, parsed with
``prometheus_client``'s parser.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from agentos_runtime.api.context import RuntimeContext
from agentos_runtime.observability.exporting import serve_metrics
from agentos_runtime.observability.runtime_metrics import RuntimeMetrics
from agentos_runtime.storage.factory import open_database
from prometheus_client.parser import text_string_to_metric_families

from tests.runtime.api.harness import build_app, with_databases
from tests.support.databases import isolated_storage

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Observed:
    client: httpx.AsyncClient
    telemetry: RuntimeMetrics
    context: RuntimeContext


@asynccontextmanager
async def observed_app(
    kind: str, config_text: str, tmp_path: Path, *, urls: dict[str, str] | None = None, **settings: Any
) -> AsyncIterator[Observed]:
    """``config_text`` with one database, ``main-db``, on ``kind``; ``urls`` replace its URL variables."""
    async with isolated_storage(kind, tmp_path) as storage:
        entry: dict[str, Any] = {"id": "main-db", "type": storage.config.type}
        if kind == "postgres":
            entry["db_schema"] = storage.config.db_schema
        if kind == "redis":
            entry["key_prefix"] = storage.config.key_prefix
        text = with_databases(config_text, [entry])
        environ = {**storage.environ, **(urls or {})}
        app = build_app(text, data_dir=tmp_path, open_database=open_database, environ=environ, **settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield Observed(client, app.state.telemetry, app.state.context)


async def scrape(telemetry: RuntimeMetrics) -> Samples:
    """Every sample, by name and sorted labels, as read from ``GET /metrics`` on a real port."""
    server = serve_metrics(telemetry, host="127.0.0.1", port=0)
    try:
        port = await asyncio.to_thread(server.wait_bound, 10.0)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        await asyncio.to_thread(server.stop)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
