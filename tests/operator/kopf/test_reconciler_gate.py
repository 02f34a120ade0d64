"""The reconciler runs nothing before the watches have been listed once, then everything asked for, once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from agentos_operator.kube.secrets import SecretCache
from agentos_operator.metrics import Metrics
from agentos_operator.queueing import Reconciler
from agentos_operator.reconcile import Context
from agentos_operator.settings import OperatorSettings

from tests.operator.kopf.conftest import eventually


class EmptyStore:
    """A store that knows no resource: every reconcile ends ``gone`` without a request."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, str]] = []

    async def get(self, kind: Any, namespace: str, name: str) -> None:
        self.reads.append((namespace, name))


def reconciler(store: EmptyStore, metrics: Metrics) -> Reconciler:
    context = Context(
        api=None,  # type: ignore[arg-type]
        store=store,  # type: ignore[arg-type]
        secrets=SecretCache(),
        settings=OperatorSettings(metrics_port=0, health_port=0),
        logger=logging.getLogger("test.reconciler"),
    )
    return Reconciler(context, metrics=metrics)


def gone(metrics: Metrics) -> float:
    return sum(s.value for m in metrics.reconciles.collect() for s in m.samples if s.name.endswith("_total"))


async def test_requests_wait_until_the_reconciler_is_opened_then_run_once_each() -> None:
    store, metrics = EmptyStore(), Metrics()
    subject = reconciler(store, metrics)
    subject.request(("ns1", "a"))
    subject.request_all([("ns1", "a"), ("ns1", "b")])
    for _ in range(20):
        await asyncio.sleep(0)  # let every task run as far as it can

    assert store.reads == []

    subject.open()

    await eventually(lambda: gone(metrics) == 2, timeout=2, what="two reconciles")
    assert sorted(store.reads) == [("ns1", "a"), ("ns1", "b")]
    await subject.close()
