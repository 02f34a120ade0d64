"""What MCP tool calls and connections are counted as, in the runtime's metrics format."""

from __future__ import annotations

from agentos_runtime.observability.instruments import Counter, Histogram, render

# MCP tools answer in milliseconds (a lookup) to minutes (a build); timeouts cap them.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class McpMetrics:
    """Calls by server, tool and outcome (``ok``, ``error``, ``timeout``, ``unavailable``,
    ``cancelled``), their
    duration, and failed connection attempts by server."""

    def __init__(self) -> None:
        self.calls = Counter(
            "agentos_mcp_tool_calls_total",
            "MCP tool calls, by server, tool and outcome.",
            ("server", "tool", "outcome"),
        )
        self.call_seconds = Histogram(
            "agentos_mcp_tool_call_duration_seconds", "Duration of MCP tool calls.", ("server",), CALL_BUCKETS
        )
        self.connection_failures = Counter(
            "agentos_mcp_connection_failures_total", "Failed or lost connections to MCP servers.", ("server",)
        )

    def observe_call(self, server: str, tool: str, outcome: str, seconds: float) -> None:
        self.calls.inc((server, tool, outcome))
        self.call_seconds.observe((server,), seconds)

    def connection_failed(self, server: str) -> None:
        self.connection_failures.inc((server,))

    def instruments(self) -> list[Counter | Histogram]:
        return [self.calls, self.call_seconds, self.connection_failures]

    def render(self) -> bytes:
        return render(self.instruments())
