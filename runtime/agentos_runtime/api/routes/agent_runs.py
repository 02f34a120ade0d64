"""Agent runs: start one (streamed or not), cancel, resume or continue one, and read the runs of a session.

``POST /agents/{id}/runs`` takes AgentOS's form (multipart or urlencoded): ``message`` is
required (422 otherwise), ``stream`` defaults to true. A streamed run answers 200
``text/event-stream`` and reports a model failure in-stream as ``RunError``; ``stream=false``
answers the ``RunOutput`` dict, ``status`` ``ERROR`` on a model failure, 503 when the session
could not be read or the run saved. A token's ``sub`` (and ``session_id`` claim) wins over the
form's; with user isolation, a run into another user's session is 404 and only the caller's own
sessions' runs can be read.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from agentos_runtime.api.authz import CallerDep
from agentos_runtime.api.deps import AgentDep, get_agent
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.routes.component_runs import (
    RUN_FORM_OPENAPI,
    answer_run,
    read_run,
    run_responses,
)
from agentos_runtime.api.routes.continuing import TOOLS_DESCRIPTION, paused_run
from agentos_runtime.api.routes.run_routes import RunRoutes, add_run_routes
from agentos_runtime.api.routes.run_schemas import agent_run_view
from agentos_runtime.api.run_ownership import guard_agent_cancel, guard_agent_continue, guard_agent_resume

router = APIRouter(route_class=FormRoute, tags=["Agents"])

JSON = dict[str, Any]


@router.post("/agents/{agent_id}/runs", responses=run_responses("agent"), openapi_extra=RUN_FORM_OPENAPI)
async def create_agent_run(agent: AgentDep, request: Request, caller: CallerDep) -> Response:
    """Run the agent on a message."""
    run, fields = await read_run(request, caller)
    return await answer_run(run, fields, caller=caller, runner=agent)


add_run_routes(
    router,
    RunRoutes(
        kind="agent",
        component=get_agent,
        run_view=agent_run_view,
        cancel_guard=guard_agent_cancel,
        resume_guard=guard_agent_resume,
        output="RunOutput",
        paused=paused_run,
        continue_guard=guard_agent_continue,
        decisions_field="tools",
        decisions_description=TOOLS_DESCRIPTION,
        continue_summary="Go on with a paused run once its held tool calls are confirmed or rejected.",
    ),
)
