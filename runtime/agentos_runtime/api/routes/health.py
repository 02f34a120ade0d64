"""Liveness and readiness: ``/health`` answers while the process runs, ``/ready`` checks databases.

``/health`` is Agno's (``{"status": "ok", "instantiated_at": ...}``) and never touches a
database, so a slow database cannot get the pod restarted. ``/ready`` pings every open
database with a deadline and answers 503 when one is down, so traffic goes elsewhere
until it is back. Neither says why a database is down: the reason may quote its URL.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from agentos_runtime.api.context import OpenDatabase
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.responses import Health, Readiness, answers
from agentos_runtime.errors import StorageUnavailable

router = APIRouter(tags=["Health"])

# A readiness probe must answer well within Kubernetes' default 1 s probe timeout... plus
# some slack for a database waking up; 2 s per database, checked concurrently.
PING_TIMEOUT_SECONDS = 2.0


@router.get("/health", responses=answers(Health, "The process is up"))
async def health(context: ContextDep) -> dict[str, Any]:
    """Liveness: the process is up."""
    return {"status": "ok", "instantiated_at": context.started_at.isoformat().replace("+00:00", "Z")}


@router.get(
    "/ready",
    responses={
        **answers(Readiness, "Every database answers"),
        503: {"model": Readiness, "description": "A database is unreachable"},
    },
)
async def ready(context: ContextDep) -> JSONResponse:
    """Readiness: every open database answers."""
    names = list(context.databases)
    results = await asyncio.gather(*(ping(context.databases[name]) for name in names))
    databases = dict(zip(names, results, strict=True))
    healthy = all(state == "ok" for state in results)
    body = {"status": "ok" if healthy else "unavailable", "databases": databases}
    return JSONResponse(body, status_code=200 if healthy else 503)


async def ping(database: OpenDatabase) -> str:
    try:
        await asyncio.wait_for(database.database.ping(), timeout=PING_TIMEOUT_SECONDS)
    except (StorageUnavailable, TimeoutError):
        return "unavailable"
    return "ok"
