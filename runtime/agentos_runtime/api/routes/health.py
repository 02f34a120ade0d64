"""Liveness and readiness: ``/health`` answers while the process runs, ``/ready`` checks databases.

``/health`` is Agno's (``{"status": "ok", "instantiated_at": ...}``) and never touches a
database, so a slow database cannot get the pod restarted. ``/ready`` pings every open
database with a deadline and answers 503 when one is down, so traffic goes elsewhere
until it is back, and also while the model clients are still being built after start-up
(``"models": "starting"``); ``reasons`` says why, per database id (storage errors name the database,
never its URL, host, port or user: ``storage.urls.redact``). With knowledge bases declared, it
also says which of them the runtime could not set up or reach at its last try (``knowledge``,
``knowledge_reasons``), without answering 503 for them: the agents still serve.

The deadline holds even when a driver is slow to give up: a ping past it is cancelled and left
to finish in the background (psycopg waits up to 10 s for a hung server to acknowledge a
cancelled query).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from agentos_runtime.api.context import OpenDatabase
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import Health, Readiness, answers
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.observability.runtime_metrics import RuntimeMetrics
from agentos_runtime.storage.urls import redact

router = APIRouter(route_class=FormRoute, tags=["Health"])

# A readiness probe must answer within Kubernetes' default 1 s probe timeout (the operator's
# probes set none), else the kubelet gives up first and the 503's reasons are never read:
# 0.8 s per database, checked concurrently.
PING_TIMEOUT_SECONDS = 0.8
# How long ``/ready`` waits for the model clients still being built at start-up (they take
# ~0.4-0.7 s of CPU once): short, so the probe gets a clean 503 within its own 1 s timeout.
MODELS_WAIT_SECONDS = 0.5


@router.get("/health", responses=answers(Health, "The process is up"))
async def health(context: ContextDep) -> dict[str, Any]:
    """Liveness: the process is up."""
    return {"status": "ok", "instantiated_at": context.started_at.isoformat().replace("+00:00", "Z")}


@router.get(
    "/ready",
    responses={
        **answers(Readiness, "Every database answers"),
        503: {"model": Readiness, "description": "A database is unreachable or the model clients are starting"},
    },
)
async def ready(context: ContextDep, request: Request) -> JSONResponse:
    """Readiness: the model clients are built and every open database answers."""
    names = list(context.databases)
    warming: asyncio.Task[None] | None = getattr(request.app.state, "models_warming", None)
    telemetry: RuntimeMetrics | None = getattr(request.app.state, "telemetry", None)
    problems, models_ready = await asyncio.gather(
        asyncio.gather(*(ping(context.databases[name], metrics=telemetry) for name in names)),
        models_prepared(warming),
    )
    reasons = {name: problem for name, problem in zip(names, problems, strict=True) if problem is not None}
    body = readiness(names, reasons, models_ready=models_ready)
    if context.knowledge is not None:
        body.update(knowledge_readiness(list(context.knowledge), context.knowledge.unavailable()))
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


async def models_prepared(warming: asyncio.Task[None] | None) -> bool:
    """Whether the model clients' start-up build (``assembly.warm_up_models``) has finished,
    waiting for it up to ``MODELS_WAIT_SECONDS``. Until then a run would import the SDK itself, on the
    event loop, stalling every request for several hundred milliseconds."""
    if warming is None or warming.done():
        return True
    done, _ = await asyncio.wait({warming}, timeout=MODELS_WAIT_SECONDS)
    return bool(done)


def readiness(names: list[str], reasons: dict[str, str], *, models_ready: bool = True) -> dict[str, Any]:
    """The body of ``/ready``: ``ok``/``unavailable`` per database, and why, for those down;
    ``models: starting`` while the model clients are still being built."""
    databases = {name: "unavailable" if name in reasons else "ok" for name in names}
    ok = models_ready and not reasons
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "databases": databases}
    if not models_ready:
        body["models"] = "starting"
    if reasons:
        body["reasons"] = reasons
    return body


def knowledge_readiness(base_ids: list[str], unavailable: dict[str, str]) -> dict[str, Any]:
    """What ``/ready`` adds for the knowledge bases: ``ok``/``unavailable`` per base and why, for
    those unavailable. It leaves the status alone: a base's agents still answer without it."""
    body: dict[str, Any] = {
        "knowledge": {base_id: "unavailable" if base_id in unavailable else "ok" for base_id in base_ids}
    }
    if unavailable:
        body["knowledge_reasons"] = {base_id: redact(why) for base_id, why in unavailable.items()}
    return body


async def ping(database: OpenDatabase, *, metrics: RuntimeMetrics | None = None) -> str | None:
    """Why ``database`` is not ready, or ``None`` when it answered within the deadline. A ping
    that misses it counts as a storage error (``ping``): a database that hangs raises nothing, and
    the storage-error alert would never see it."""
    pinging = asyncio.ensure_future(database.database.ping())
    done, _ = await asyncio.wait({pinging}, timeout=PING_TIMEOUT_SECONDS)
    if not done:
        pinging.cancel()
        pinging.add_done_callback(_discard_outcome)
        if metrics is not None:
            metrics.count_storage_error(database.config.id, "ping")
        return f"database '{database.config.id}' did not answer within {PING_TIMEOUT_SECONDS:g} s"
    try:
        pinging.result()
    except StorageUnavailable as error:
        return redact(error.detail)
    return None


def _discard_outcome(task: asyncio.Future[None]) -> None:
    """A ping given up on: its late error (or cancellation) is of no interest any more."""
    if not task.cancelled():
        task.exception()
