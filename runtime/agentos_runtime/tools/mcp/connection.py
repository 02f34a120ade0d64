"""One MCP server, kept connected: its tool list, and calls to its tools that never crash a run.

A background task owns the SDK's ``Client`` (its transport's task group must be entered and
left by one task): it connects, lists the tools, then waits. The server's list-changed signal
(a ``notifications/tools/list_changed`` on a handshake-era connection, a
``subscriptions/listen`` event on a 2026-era one) makes it list them again; a connection that
fails (a call cannot reach the server, the listen stream drops) makes it reconnect, with
exponential backoff, for as long as the runtime runs. The backoff starts again from its first
step only after a connection stayed up ``HEALTHY_SECONDS``: a server that dies each time right
after connecting is retried ever less often, not every second (``retry_delay``).

What the server sends that is not an MCP message (a stdio server printing a banner to stdout,
a malformed event) is logged, at most once a minute per server, and ignored: the SDK hands it
over as an exception, and the messages around it are still good. The SDK's own record of it
(a traceback for every such line) is dropped (``SdkParseNoise``): that one line replaces it.

Calls are made from the runs' own tasks through the connected client. Every way a call can go
wrong (not connected, no answer within ``timeout_seconds``, a protocol error, a result flagged
``isError``) raises ``McpToolError`` with a message the model reads, and counts in the metrics.
Header and environment values are resolved once, kept out of every ``repr`` and log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import CONNECTION_CLOSED
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from agentos_runtime.config.mcp import McpServerConfig, NamedValue, variable_state
from agentos_runtime.errors import DescribedFailure
from agentos_runtime.logcut import cut as cut_for_log
from agentos_runtime.tools.mcp.metrics import McpMetrics
from agentos_runtime.tools.mcp.results import cut, error_text, result_text

log = logging.getLogger(__name__)

# Reconnection backoff: first retry after FIRST_RETRY seconds, doubling up to MAX_RETRY; back to
# FIRST_RETRY only after a connection that stayed up HEALTHY seconds.
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
HEALTHY_SECONDS = 60.0
# What a server sends that is not an MCP message is logged at most once per this many seconds.
STRAY_LOG_SECONDS = 60.0
# How much of such a message's parse error a log line quotes.
STRAY_QUOTE_CHARS = 200
# Connecting and listing the tools: a server that takes longer is treated as down this time.
CONNECT_TIMEOUT_SECONDS = 30.0
# What is left of a stopped stdio server's stderr is relayed to the log for at most this long.
STDERR_DRAIN_SECONDS = 2.0
# The most of one stderr line a log line keeps (a progress bar or a dump can be one line of
# megabytes); the rest of it, up to its newline, is dropped.
MAX_STDERR_LINE_CHARS = 2000
_STDERR_READ_BYTES = 64 * 1024
# Lines of a stdio server's stderr logged per window; the rest are counted, and the count logged
# (a server printing a progress line per item would otherwise write the runtime's log full).
STDERR_LINES_PER_WINDOW = 100
STDERR_WINDOW_SECONDS = 10.0
# How long closing waits for the connection's task to end once cancelled.
CLOSE_SECONDS = 5.0
# Pages of tools/list followed before the listing is taken as complete (a paginator that never
# ends cannot hang the connection).
MAX_LIST_PAGES = 100


class SdkParseNoise(logging.Filter):
    """Drops the SDK's traceback for each stdio line that is not JSON-RPC: the connection logs
    what the server sent, in one line at most once a minute (``McpConnection._stray``), and a
    server printing a line per request would otherwise write a traceback per request."""

    MESSAGE = "Failed to parse JSONRPC message from server"

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != self.MESSAGE


logging.getLogger("mcp.client.stdio").addFilter(SdkParseNoise())


class McpToolError(DescribedFailure):
    """A call to an MCP tool failed; the message is what the model reads (no secret in it).

    ``outcome`` is the metric's label: ``error`` (the server refused or the tool reported an
    error), ``timeout`` or ``unavailable`` (not connected, or the connection failed).
    """

    def __init__(self, message: str, *, outcome: str = "error") -> None:
        super().__init__(message)
        self.outcome = outcome


class LineBudget:
    """At most ``lines`` log lines per ``seconds``; counts the lines held back beyond that."""

    def __init__(self, lines: int, seconds: float) -> None:
        self.lines, self.seconds = lines, seconds
        self.held = 0
        """Lines held back since the last line admitted."""
        self._window_start: float | None = None
        self._used = 0

    def admit(self, now: float) -> tuple[bool, int]:
        """Whether a line may be logged at ``now``, and how many were held back before it (to say
        so first; 0 when the line is held back too)."""
        if self._window_start is None or now - self._window_start >= self.seconds:
            self._window_start, self._used = now, 0
        if self._used >= self.lines:
            self.held += 1
            return False, 0
        self._used += 1
        held, self.held = self.held, 0
        return True, held


def retry_delay(previous: float | None, connected_for: float | None) -> float:
    """Seconds to wait before connecting again, after a wait of ``previous`` (``None``: the first
    failure) and a connection that lasted ``connected_for`` seconds (``None``: none was made).

    Doubling up to ``MAX_RETRY_SECONDS``; a connection counts as recovery, starting again from
    ``FIRST_RETRY_SECONDS``, only if it stayed up ``HEALTHY_SECONDS``.
    """
    if previous is None or (connected_for is not None and connected_for >= HEALTHY_SECONDS):
        return FIRST_RETRY_SECONDS
    return min(previous * 2, MAX_RETRY_SECONDS)


def unanswered(seconds: float, unreadable: int, last_unreadable: str | None) -> str:
    """Why a connection attempt timed out: no answer to the handshake and tool listing within
    ``seconds``, or (``unreadable`` > 0) only answers that were not MCP, ``last_unreadable`` the
    last (a tool list nested too deep for the SDK to parse is one)."""
    reason = f"no answer to the handshake and tool listing within {seconds:g}s"
    if unreadable:
        reason += f"; it sent {unreadable} message(s) that are not MCP, the last: {last_unreadable}"
    return reason


class MissingValue(ValueError):
    """A header or env value names an environment variable that is not set, or is empty."""


def resolve_values(
    items: Sequence[NamedValue], environ: Mapping[str, str], what: str, *, strip: bool = False
) -> dict[str, str]:
    """``{name: value}`` for headers or env vars; raises ``MissingValue`` naming the variable, never a value.

    A variable set to nothing counts as not set (``variable_state``): no empty header is sent.
    ``strip`` drops a value's surrounding whitespace: for headers (a token Secret made from a
    file ends in a newline, which no header can carry); an env value is passed as it is.
    """
    values: dict[str, str] = {}
    for item in items:
        if item.value is not None:
            values[item.name] = item.value
            continue
        variable = item.value_env or ""
        state = variable_state(variable, environ)
        if state != "set":
            raise MissingValue(
                f"{what} {item.name}: environment variable {variable} is {state}; "
                f"give it the value, or take the {what} out of the server's declaration"
            )
        values[item.name] = environ[variable].strip() if strip else environ[variable]
    return values


class McpConnection:
    """A server's connection, tools and calls; ``start()`` it, ``close()`` it."""

    def __init__(
        self, config: McpServerConfig, environ: Mapping[str, str], *, metrics: McpMetrics, mode: str = "auto"
    ) -> None:
        """``mode`` is the SDK client's: ``auto`` negotiates the newest protocol both sides speak;
        ``legacy`` forces the handshake-era one (tests use it to stand for older servers)."""
        self.config = config
        self._mode = mode
        self.id = config.id
        self.metrics = metrics
        self.tools: dict[str, types.Tool] = {}
        """The server's tools by name, as last listed."""
        self.last_error: str | None = None
        self.listings = 0
        """How many times the tools were listed (tests wait on it; it is also a log field)."""
        self._headers = resolve_values(config.headers, environ, "header", strip=True)
        self._env = resolve_values(config.env, environ, "env")
        self._client: Client | None = None
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._broken: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._scope: anyio.CancelScope | None = None  # what ``close`` cancels, once the task runs
        self.stray_messages = 0
        """How many things the server sent were not MCP messages (ignored)."""
        self._stray_held = 0
        self._stray_logged_at: float | None = None
        self._last_stray: str | None = None

    def __repr__(self) -> str:
        return f"McpConnection({self.id!r}, {self.config.transport}, connected={self.connected})"

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def protocol_version(self) -> str | None:
        """The MCP protocol version of the current connection."""
        return self._client.protocol_version if self._client is not None else None

    async def start(self, *, wait_seconds: float) -> bool:
        """Start the connection task and wait up to ``wait_seconds`` for the first tool listing;
        whether it came (if not, the task goes on trying: ``last_error`` says why it failed so far)."""
        self._task = asyncio.get_running_loop().create_task(self._maintain(), name=f"mcp-{self.id}")
        try:
            await self.wait_for(lambda: self.listings > 0, timeout=wait_seconds)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop the connection; a transport that does not let go within ``CLOSE_SECONDS`` is left
        behind (logged) rather than holding the caller, a shutdown, forever."""
        task, self._task, scope = self._task, None, self._scope
        if task is None:
            return
        # Through the task's cancel scope: a transport stopping its server (the stdio client's
        # stdin close, grace and signals, shielded) finishes first. A plain ``task.cancel()``
        # goes through the shield and leaves the server process running.
        if scope is not None:
            scope.cancel()
        else:  # not started yet: nothing to stop
            task.cancel()
        done, _ = await asyncio.wait({task}, timeout=CLOSE_SECONDS)
        if not done:
            log.warning("MCP server %s: the connection did not close within %gs; left behind", self.id, CLOSE_SECONDS)
        elif not task.cancelled() and task.exception() is not None:
            log.debug("MCP server %s: the connection ended with %r", self.id, task.exception())

    async def wait_for(self, predicate: Callable[[], bool], *, timeout: float) -> None:
        """Wait until ``predicate()`` holds, re-checked after each change of state."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        """The text of the tool's result; raises ``McpToolError`` for anything else."""
        started = time.perf_counter()
        outcome = "cancelled"  # unless it ends otherwise: the run was cancelled during the call
        try:
            text = await self._call(name, arguments)
            outcome = "ok"
            return text
        except McpToolError as error:
            outcome = error.outcome
            raise
        finally:
            self.metrics.observe_call(self.id, name, outcome, time.perf_counter() - started)

    async def _call(self, name: str, arguments: dict[str, Any]) -> str:
        client = self._client
        if client is None:
            raise McpToolError(
                f"MCP server '{self.id}' is not connected ({self._down_reason()})", outcome="unavailable"
            )
        if self.tools and name not in self.tools:
            raise McpToolError(f"MCP server '{self.id}' does not offer the tool '{name}'")
        timeout = self.config.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                result = await client.call_tool(name, arguments)
        except TimeoutError:
            raise McpToolError(
                f"MCP server '{self.id}' did not answer {name} within {timeout:g}s", outcome="timeout"
            ) from None
        except MCPError as error:
            if error.error.code == CONNECTION_CLOSED:  # the transport ended under the call
                self._mark_broken(client, error.error.message)
                raise McpToolError(
                    f"MCP server '{self.id}' closed the connection during {name}", outcome="unavailable"
                ) from None
            raise McpToolError(f"MCP server '{self.id}' refused {name}: {error.error.message}") from None
        except (ValidationError, RuntimeError) as error:
            # The SDK's word on a result it cannot take (not of the protocol's shape, structured
            # content against the tool's output schema, an input request): this call's failure,
            # not the connection's, which the other calls on it keep.
            said = cut(" ".join(_describe(error).split()), self.config.max_result_chars)
            raise McpToolError(
                f"MCP server '{self.id}' answered {name} with a result that is not valid: {said}"
            ) from None
        except Exception as error:  # the connection failed under the call: reconnect, tell the model
            reason = _describe(error)
            self._mark_broken(client, reason)
            raise McpToolError(
                f"MCP server '{self.id}' could not be reached: {reason}", outcome="unavailable"
            ) from None
        if not isinstance(result, types.CallToolResult):
            raise McpToolError(f"MCP server '{self.id}' answered {name} with a {type(result).__name__}")
        if result.is_error:
            raise McpToolError(cut(error_text(result), self.config.max_result_chars))
        return cut(result_text(result), self.config.max_result_chars)

    def _down_reason(self) -> str:
        return self.last_error or "connecting"

    def _mark_broken(self, client: Client, reason: str) -> None:
        """Have ``_follow`` rebuild the connection, when ``client`` is still the current one: a
        call failing as an earlier connection is torn down says nothing of the next."""
        if client is self._client and self._broken is None:
            self._broken = reason
            self._wake.set()

    async def _maintain(self) -> None:
        with anyio.CancelScope() as self._scope:
            await self._connect_again_and_again()

    async def _connect_again_and_again(self) -> None:
        delay: float | None = None
        while True:
            connected_at: float | None = None
            strays_before = self.stray_messages
            deadline = asyncio.timeout(CONNECT_TIMEOUT_SECONDS)
            try:
                async with AsyncExitStack() as stack:
                    async with deadline:
                        client = await stack.enter_async_context(self._new_client())
                        await self._list(client)
                    self._client, self.last_error, connected_at = client, None, _clock()
                    await self._notify()
                    log.info("MCP server %s connected: %d tools", self.id, len(self.tools))
                    await self._follow(client, stack)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the connection's boundary: every failure means reconnect
                if connected_at is None and deadline.expired():
                    unreadable = self.stray_messages - strays_before
                    self.last_error = unanswered(CONNECT_TIMEOUT_SECONDS, unreadable, self._last_stray)
                else:
                    self.last_error = _describe(error)
                self.metrics.connection_failed(self.id)
                connected_for = None if connected_at is None else _clock() - connected_at
                delay = retry_delay(delay, connected_for)
                log.warning("MCP server %s: %s; reconnecting in %gs", self.id, self.last_error, delay)
            finally:
                self._client = None
            await self._notify()
            await _pause(delay or FIRST_RETRY_SECONDS)

    def _new_client(self) -> Client:
        if self.config.transport == "stdio":
            assert self.config.command is not None  # checked by the config
            params = StdioServerParameters(command=self.config.command, args=list(self.config.args), env=self._env)
            transport: Any = _stdio_transport(params, self.id)
        else:
            assert self.config.url is not None  # checked by the config
            transport = _http_transport(self.config.url, self._headers)
        return Client(transport, cache=None, message_handler=self._on_message, mode=self._mode)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._wake.set()
        elif isinstance(message, Exception):  # something that is not an MCP message: ignored
            self._stray(message)
            await self._notify()

    def _stray(self, error: Exception) -> None:
        """Count what the server sent that is not an MCP message; log it at most once per
        ``STRAY_LOG_SECONDS`` (a server printing a line per request would flood the log)."""
        self.stray_messages += 1
        self._stray_held += 1
        self._last_stray = _quote(_describe(error))
        now = _clock()
        if self._stray_logged_at is not None and now - self._stray_logged_at < STRAY_LOG_SECONDS:
            return
        held, self._stray_held, self._stray_logged_at = self._stray_held, 0, now
        log.warning(
            "MCP server %s sent %d message(s) that are not MCP, ignored (a stdio server writes only "
            "JSON-RPC to stdout; anything else belongs on stderr); the last: %s",
            self.id,
            held,
            self._last_stray,
        )

    async def _follow(self, client: Client, stack: AsyncExitStack) -> None:
        """Re-list on every change signal until the connection breaks (then raise to reconnect)."""
        if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
            listener = asyncio.get_running_loop().create_task(self._listen(client))

            async def stop_listening() -> None:
                # Awaited before the client's transport closes: a listener cancelled but still
                # running would otherwise unwind inside a transport already torn down. Shielded:
                # a close cancels this task's scope, which must not cut the wait short.
                listener.cancel()
                with anyio.CancelScope(shield=True):
                    await asyncio.wait({listener})

            stack.push_async_callback(stop_listening)
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._broken is not None:
                reason, self._broken = self._broken, None
                self._client = None  # calls failing as the transport closes mark nothing
                raise ConnectionError(reason)
            await self._list(client)
            await self._notify()

    async def _listen(self, client: Client) -> None:
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _ in subscription:
                    self._wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the listen stream dropped: the connection is rebuilt
            self._mark_broken(client, f"change notifications stopped: {_describe(error)}")
            return
        self._mark_broken(client, "the server closed the change notification stream")

    async def _list(self, client: Client) -> None:
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(MAX_LIST_PAGES):
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await client.session.list_tools(params=params)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        self.tools = {tool.name: tool for tool in tools}
        self.listings += 1


def _quote(text: str) -> str:
    """``text`` on one line (a parse error's message spans several), cut to ``STRAY_QUOTE_CHARS``."""
    line = " ".join(text.split())
    return line if len(line) <= STRAY_QUOTE_CHARS else line[:STRAY_QUOTE_CHARS] + "..."


def _clock() -> float:
    return time.monotonic()


async def _pause(seconds: float) -> None:
    """The wait before reconnecting (tests replace it to see the delays without waiting them)."""
    await asyncio.sleep(seconds)


def _describe(error: BaseException) -> str:
    """A one-line reason: the innermost error of an exception group, its type and message."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@asynccontextmanager
async def _stdio_transport(params: StdioServerParameters, server_id: str) -> AsyncIterator[Any]:
    """The server's process over stdin/stdout; its stderr goes to the runtime's log, line by line,
    so it is formatted and redacted (the env values it was given) like every other line, at most
    ``STDERR_LINES_PER_WINDOW`` lines per ``STDERR_WINDOW_SECONDS`` (then a count of the rest)."""
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    stderr = os.fdopen(write_fd, "w")
    lines = asyncio.StreamReader()
    pipe, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), os.fdopen(read_fd, "rb"))

    async def relay() -> None:
        budget = LineBudget(STDERR_LINES_PER_WINDOW, STDERR_WINDOW_SECONDS)
        async for line in _stderr_lines(lines):
            admitted, held = budget.admit(_clock())
            if held:
                _log_held(server_id, held)
            if admitted:
                log.info("MCP server %s: %s", server_id, line)
        if budget.held:
            _log_held(server_id, budget.held)

    relaying = loop.create_task(relay(), name=f"mcp-{server_id}-stderr")
    try:
        async with stdio_client(params, errlog=stderr) as streams:
            stderr.close()  # the process holds its own copy: the relay ends when the process does
            yield streams
    finally:
        stderr.close()
        try:
            async with asyncio.timeout(STDERR_DRAIN_SECONDS):
                await relaying
        except TimeoutError:
            relaying.cancel()
        except Exception:  # the relay's own failure must not become the connection's (nor swallow a cancel)
            log.debug("MCP server %s: relaying its stderr failed", server_id, exc_info=True)
        pipe.close()


def _log_held(server_id: str, held: int) -> None:
    log.warning(
        "MCP server %s: %d more line(s) of its stderr not logged (at most %d every %gs)",
        server_id,
        held,
        STDERR_LINES_PER_WINDOW,
        STDERR_WINDOW_SECONDS,
    )


async def _stderr_lines(reader: asyncio.StreamReader) -> AsyncIterator[str]:
    """Each line ``reader`` gives, decoded, without its line ending, cut to ``MAX_STDERR_LINE_CHARS``.

    Read in chunks rather than with ``readline``: a line longer than the reader's limit (64 KiB)
    ended its iteration with a ``ValueError``, after which nothing read the pipe any more, the
    server blocked on its next write to stderr, and the error surfaced at close in place of the
    cancel, so the connection could neither answer nor be closed.
    """
    pending = b""
    cut_off = False  # the rest of a line already logged cut is being dropped
    while chunk := await reader.read(_STDERR_READ_BYTES):
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            if not cut_off:
                yield _stderr_text(line)
            cut_off = False
        if not cut_off and len(pending) > MAX_STDERR_LINE_CHARS * 4:  # 4 bytes: the longest UTF-8 character
            yield _stderr_text(pending)
            pending, cut_off = b"", True
        elif cut_off:
            pending = b""
    if pending and not cut_off:
        yield _stderr_text(pending)


def _stderr_text(line: bytes) -> str:
    text = line.decode(errors="replace").rstrip()
    return cut_for_log(text, MAX_STDERR_LINE_CHARS)


@asynccontextmanager
async def _http_transport(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    """Streamable HTTP to ``url`` with ``headers`` on every request; the HTTP client closes with it."""
    import httpx2

    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams
