"""``/ready`` over a database that hangs: a clean 503 within the kubelet's default 1 s probe
timeout (the operator's probes set none), and the miss counted as a storage error, which the
storage-error alert reads (a hang raises nothing of its own)."""

from __future__ import annotations

import asyncio
import time

from agentos_runtime.api.context import OpenDatabase
from agentos_runtime.api.routes.health import PING_TIMEOUT_SECONDS, ping
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.observability.runtime_metrics import RuntimeMetrics


class Hanging:
    """A database whose ping never answers."""

    async def ping(self) -> None:
        await asyncio.Event().wait()


def test_the_ping_deadline_leaves_room_within_the_kubelets_one_second() -> None:
    assert PING_TIMEOUT_SECONDS <= 0.8


async def test_a_ping_that_misses_its_deadline_is_a_storage_error_and_a_reason() -> None:
    metrics = RuntimeMetrics()
    database = OpenDatabase(DatabaseConfig(id="main-db", type="sqlite"), Hanging())  # type: ignore[arg-type]

    started = time.monotonic()
    reason = await ping(database, metrics=metrics)

    assert time.monotonic() - started < PING_TIMEOUT_SECONDS + 0.5
    assert reason == f"database 'main-db' did not answer within {PING_TIMEOUT_SECONDS:g} s"
    assert 'agentos_storage_errors_total{db_id="main-db",operation="ping"} 1' in metrics.render().decode()
