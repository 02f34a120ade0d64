"""``/mcp``: the runtime's agents, teams and workflows as an MCP server (Agno's ``mcp_server=True``).

Off by default; ``mcp_server: true`` in the config turns it on. It serves Agno's core tools
with Agno's names: ``get_agentos_config`` (what can be run), ``run_agent``, ``run_team`` and
``run_workflow`` (a run with a message; the answer's text is the result, with the run's ids and
status beside it, as Agno's: ``run_result``). The endpoint is an
ordinary route of the API, behind the same authentication and route checks as the others; each
tool then checks the caller may run that component (``POST /agents/{id}/runs`` and so on) and
runs as the caller's user when JWT user isolation applies. The server is stateless (JSON
answers, no MCP session kept), so any replica answers any request.

What the SDK would refuse with a message of its internals, or what no backend can store (a
NUL, a lone surrogate, NaN), is answered here as a JSON-RPC error (``rejection``): a batch or a
body that is not one request object is ``-32600`` (invalid request) with HTTP 400, as the SDK
answers it at the 2026 protocol revision (and at every earlier revision since 2025-06-18, which
dropped batching); unstorable text in ``params`` is ``-32602`` (invalid params) with the
request's id, HTTP 400 at the 2026 revision (the SDK's table of statuses) and 200 before it (a
JSON-RPC error answering a request, as the SDK answers a handler's); anywhere else ``-32600``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, CallToolResult, TextContent, jsonrpc_message_adapter
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

from agentos_runtime.api.authz import UNRESTRICTED, Caller, CallerDep, check_route, check_session_owner
from agentos_runtime.api.context import RuntimeContext
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.errors import AgentOSError
from agentos_runtime.runs import RunRequest
from agentos_runtime.storable import clean_text, find_problem, id_problem, path_text

CALLER_STATE = "agentos_mcp_caller"
KINDS = {"agent": "agents", "team": "teams", "workflow": "workflows"}
PROTOCOL_VERSION_HEADER = "mcp-protocol-version"


@dataclass(frozen=True)
class Rejection:
    """A JSON-RPC error answering a POST the MCP server is not given: its HTTP status, code,
    message and the request's id (``None`` when it has none that can be read)."""

    status: int
    code: int
    message: str
    id: str | int | None = None

    def body(self) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": self.id, "error": {"code": self.code, "message": self.message}}


def rejection(decoded: Any, *, protocol_version: str | None) -> Rejection | None:
    """Why the decoded JSON body of a POST to ``/mcp`` is answered before the SDK sees it, or
    ``None`` to let the SDK answer (see the module docstring). ``protocol_version``: the
    request's ``MCP-Protocol-Version`` header."""
    if isinstance(decoded, list):
        return Rejection(
            400,
            INVALID_REQUEST,
            "Invalid request: a batch (a JSON array) is not accepted: send one JSON-RPC request or notification"
            " per POST",
        )
    if not isinstance(decoded, dict):
        return Rejection(400, INVALID_REQUEST, "Invalid request: the body must be one JSON-RPC request object")
    request_id = decoded.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int) or find_problem(request_id) is not None:
        request_id = None
    modern = protocol_version in MODERN_PROTOCOL_VERSIONS
    problem = find_problem(decoded)
    if problem is not None:
        where = path_text(problem.path).removeprefix(".")
        if problem.path[:1] == ("params",):
            status = 400 if modern or request_id is None else 200
            return Rejection(status, INVALID_PARAMS, f"Invalid params: {where}: {problem.message}", request_id)
        return Rejection(400, INVALID_REQUEST, f"Invalid request: {where or 'the body'}: {problem.message}", request_id)
    if modern:
        return None  # the SDK's own envelope checks answer in JSON-RPC terms
    if "id" in decoded and request_id is None:
        # The SDK would take it for a notification (which ignores unknown members) and answer
        # nothing to a message that is owed an error.
        return Rejection(400, INVALID_REQUEST, "Invalid request: id: must be a string or an integer")
    try:
        jsonrpc_message_adapter.validate_python(decoded, by_name=False)
    except ValidationError:
        return Rejection(400, INVALID_REQUEST, f"Invalid request: {envelope_problem(decoded)}", request_id)
    return None


def envelope_problem(message: dict[str, Any]) -> str:
    """What makes ``message`` no JSON-RPC 2.0 request, notification or response, in a user's words."""
    if message.get("jsonrpc") != "2.0":
        return 'jsonrpc: must be "2.0"'
    if "id" in message and (isinstance(message["id"], bool) or not isinstance(message["id"], str | int)):
        return "id: must be a string or an integer"
    if "result" in message or "error" in message:
        return "not a valid JSON-RPC response (an id and a result, or an id and an error with a code and a message)"
    if not isinstance(message.get("method"), str):
        return "method: required, a string"
    if "params" in message and not isinstance(message["params"], dict):
        return "params: must be an object"
    return "not a JSON-RPC 2.0 request or notification"


def build_router() -> APIRouter:
    """The ``/mcp`` route, with the MCP server's session manager running for the app's lifetime."""
    server = build_server()
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        # The API is reached under any host name; requests are authenticated like every route.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = server.session_manager

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with manager.run():
            yield

    router = APIRouter(route_class=FormRoute, lifespan=lifespan, tags=["MCP"])

    # POST only: a stateless server has no stream to open (GET would hold an SSE stream that
    # can never carry anything) and no session to end (DELETE): both are 405.
    @router.api_route("/mcp", methods=["POST"], include_in_schema=False)
    async def mcp(request: Request, caller: CallerDep) -> Response:
        """The MCP endpoint (streamable HTTP)."""
        setattr(request.state, CALLER_STATE, caller)
        body = await request.body()
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            decoded = None  # not JSON: the SDK answers a parse error (-32700)
        else:
            refused = rejection(decoded, protocol_version=request.headers.get(PROTOCOL_VERSION_HEADER))
            if refused is not None:
                return JSONResponse(refused.body(), status_code=refused.status)
        return _Delegated(manager.handle_request, request.scope, _replaying(body, request.receive))

    return router


class _ToolsOnly(MCPServer):
    """The SDK's server with no prompts: asking for one is the caller's mistake (-32602), not a
    failure of the server (the SDK answered code 0 or -32603 and logged two tracebacks)."""

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        raise MCPError(INVALID_PARAMS, f"Unknown prompt: {clean_text(name)[:200]}: this server offers tools only")


def build_server() -> MCPServer:
    server: MCPServer = _ToolsOnly("agentos")

    @server.tool(
        name="get_agentos_config",
        description="Discover this AgentOS: the agents, teams and workflows available to run, with their ids and descriptions. Call this first to learn what you can operate.",
    )
    async def get_agentos_config(ctx: Context) -> dict[str, Any]:
        context, caller = _context(ctx), _caller(ctx)
        try:
            check_route(caller, "GET", "/config", "/config")  # what GET /config asks of a caller
        except HTTPException as refused:
            raise ToolError(str(refused.detail)) from None

        def summaries(kind: str, items: Any) -> list[dict[str, Any]]:
            visible = caller.visible(kind, list(items), lambda item: item.id)  # type: ignore[arg-type]
            return [{"id": item.id, "name": item.name, "description": item.config.description} for item in visible]

        return {
            "os_id": context.os_id,
            "description": context.config.description,
            "databases": list(context.databases),
            "agents": summaries("agents", context.agents.values()),
            "teams": summaries("teams", context.teams.values()),
            "workflows": summaries("workflows", context.workflows.values()),
        }

    @server.tool(name="run_agent", description="Run an agent with a message and get its response.")
    async def run_agent(
        agent_id: str, message: str, ctx: Context, user_id: str | None = None, session_id: str | None = None
    ) -> CallToolResult:
        return await _run(ctx, "agent", agent_id, message, user_id, session_id)

    @server.tool(name="run_team", description="Run a team of agents with a message and get its response.")
    async def run_team(
        team_id: str, message: str, ctx: Context, user_id: str | None = None, session_id: str | None = None
    ) -> CallToolResult:
        return await _run(ctx, "team", team_id, message, user_id, session_id)

    @server.tool(name="run_workflow", description="Run a workflow with an input message and get its result.")
    async def run_workflow(
        workflow_id: str, message: str, ctx: Context, user_id: str | None = None, session_id: str | None = None
    ) -> CallToolResult:
        return await _run(ctx, "workflow", workflow_id, message, user_id, session_id)

    return server


async def _run(
    ctx: Context, singular: str, component_id: str, message: str, user_id: str | None, session_id: str | None
) -> CallToolResult:
    context, caller, kind = _context(ctx), _caller(ctx), KINDS[singular]
    try:
        # Before the lookup, as the REST route: a caller may not learn which ids exist it may not run.
        check_route(caller, "POST", f"/{kind}/{{{singular}_id}}/runs", f"/{kind}/{component_id}/runs")
    except HTTPException as refused:
        raise ToolError(str(refused.detail)) from None
    component = getattr(context, kind).get(component_id)
    if component is None:
        raise ToolError(f"no {singular} '{component_id}': call get_agentos_config for the ids")
    # The ids a run form takes, with its rules: empty means none, and no id is too long or reserved.
    for name, value in (("user_id", user_id), ("session_id", session_id)):
        problem = id_problem(value) if value else None
        if problem is not None:
            raise ToolError(f"{name}: {problem.message}")
    try:
        run_user = caller.run_user_id(user_id or None)
        run_session = caller.run_session_id(session_id or None)
        request = RunRequest(message=message, user_id=run_user)
        if run_session is not None:
            request = RunRequest(message=message, user_id=run_user, session_id=run_session)
        await check_session_owner(getattr(component, "sessions", None), request.session_id, caller)
    except HTTPException as refused:
        raise ToolError(str(refused.detail)) from None
    try:
        output = await component.complete(request)
    except AgentOSError as error:
        raise ToolError(error.detail) from None
    if output.get("status") == "ERROR":
        raise ToolError(str(output.get("content") or f"the {singular} run failed"))
    return run_result(output, singular, component_id)


def run_result(output: dict[str, Any], singular: str, component_id: str) -> CallToolResult:
    """A run tool's answer, as Agno's run tools give it: the answer's text, and in the structured
    content the run's ``run_id``, ``session_id`` and ``status`` (a run may end ``PAUSED`` or
    ``CANCELLED``), the same text, the component's id and, for a paused run, its requirements.
    A paused run says so, and where to continue it (this server offers no ``continue_run``)."""
    content = output.get("content")
    text = content if isinstance(content, str) else "" if content is None else json.dumps(content)
    status = str(output.get("status") or "COMPLETED")
    structured: dict[str, Any] = {
        "run_id": output.get("run_id"),
        "session_id": output.get("session_id"),
        "status": status,
    }
    if status == "PAUSED":
        # An agent's or team's requirements; a workflow's, its paused step's.
        waiting = output.get("requirements") or output.get("step_requirements") or ()
        requirements = [r for r in waiting if isinstance(r, dict)]
        structured["requirements"] = requirements
        if not text:
            text = f"Run paused: {len(requirements)} requirement(s) awaiting resolution."
        text = (
            f"{text} The continue_run tool is not registered on this server; resume this run over the REST "
            f"API: POST /{KINDS[singular]}/{component_id}/runs/{output.get('run_id')}/continue"
        )
    structured["content"] = text
    structured[f"{singular}_id"] = component_id
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def _context(ctx: Context) -> RuntimeContext:
    context: RuntimeContext = _request(ctx).app.state.context
    return context


def _caller(ctx: Context) -> Caller:
    caller: Caller = getattr(_request(ctx).state, CALLER_STATE, UNRESTRICTED)
    return caller


def _request(ctx: Context) -> Request:
    request = ctx.request_context.request
    if not isinstance(request, Request):
        raise ToolError("this server answers over HTTP only")
    return request


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` that first hands out ``body`` again (the request checks have consumed it)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _Delegated(Response):
    """A response that lets an ASGI app answer the request."""

    def __init__(self, app: Any, scope: Scope, receive: Receive) -> None:
        super().__init__()
        self._app, self._scope, self._receive = app, scope, receive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(self._scope, self._receive, send)
