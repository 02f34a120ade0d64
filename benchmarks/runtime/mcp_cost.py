"""What one MCP tool call costs the client: the runtime's MCP tools beside Agno's ``MCPTools``.

    .venv/bin/python -m benchmarks.runtime.mcp_cost [--calls 2000]

The MCP server (``mcp_server.py``, one dict lookup) runs on CPU 1; each client runs in a fresh
process pinned to CPU 0 and calls the tool one call at a time, after a warm-up:

- ``sdk``: the ``mcp`` SDK's ``Client.call_tool`` alone, the floor under any client built on it
  (the baseline the others are shown above);
- ``runtime``: ``tools.mcp.McpConnection.call``, what an agent's MCP tool runs: the same SDK
  client kept connected, a timeout around the call, the result turned into the text the model
  reads, the call counted in the metrics;
- ``agno``: Agno's ``MCPTools`` (in ``benchmarks/.venv-agno``, ``setup-agno.sh``), the tool's
  entrypoint as an Agno agent calls it (Agno pings the server before each call).

Reported per client: CPU ms per call (``time.process_time`` of the client process), wall ms per
call, seconds to import and connect, and peak RSS. Printed as Markdown and written to
``benchmarks/results/mcp-cost-latest.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

BASELINE = "sdk"
VARIANTS = (BASELINE, "runtime", "agno")
WARM_UP = 100
ARGUMENTS = {"key": "answer"}
Call = Callable[[], Awaitable[str]]


@asynccontextmanager
async def _client(variant: str, url: str) -> AsyncIterator[Call]:
    """A connected client of the variant and its one call (returning the result's text)."""
    if variant == BASELINE:
        import mcp_types
        from mcp import Client

        async with Client(url, cache=None) as client:

            async def with_sdk() -> str:
                result = await client.call_tool("lookup", ARGUMENTS)
                block = result.content[0]  # type: ignore[union-attr]
                assert isinstance(block, mcp_types.TextContent)
                return block.text

            yield with_sdk
    elif variant == "runtime":
        from agentos_runtime.config.mcp import McpServerConfig
        from agentos_runtime.tools.mcp.connection import McpConnection
        from agentos_runtime.tools.mcp.metrics import McpMetrics

        connection = McpConnection(McpServerConfig(id="bench", url=url), {}, metrics=McpMetrics())
        await connection.start(wait_seconds=30)
        try:

            async def with_runtime() -> str:
                return await connection.call("lookup", ARGUMENTS)

            yield with_runtime
        finally:
            await connection.close()
    else:
        from agno.tools.mcp import MCPTools

        async with MCPTools(url=url, transport="streamable-http", include_tools=["lookup"]) as tools:
            entrypoint = tools.functions["lookup"].entrypoint

            async def with_agno() -> str:
                return str((await entrypoint(**ARGUMENTS)).content)

            yield with_agno


async def _measure(variant: str, url: str, calls: int) -> dict[str, Any]:
    started = time.perf_counter()
    async with _client(variant, url) as one:
        connect_s = time.perf_counter() - started
        for _ in range(WARM_UP):
            assert await one() == "42"
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(calls):
            await one()
        cpu_ms = (time.process_time() - cpu) / calls * 1000
        wall_ms = (time.perf_counter() - wall) / calls * 1000
    return {
        "variant": variant,
        "cpu_ms_per_call": round(cpu_ms, 3),
        "wall_ms_per_call": round(wall_ms, 3),
        "import_and_connect_s": round(connect_s, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _worker(argv: list[str]) -> None:
    import asyncio

    variant, url, calls = argv[0], argv[1], int(argv[2])
    print(json.dumps(asyncio.run(_measure(variant, url, calls))))


def main() -> None:
    from benchmarks.runtime.run import AGNO_PYTHON, DRIVER_CPU, ROOT, pinned, running, wait_healthy
    from tests.support.ports import free_port

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "mcp-cost-latest.json")
    args = parser.parse_args()
    port = free_port()
    rows: list[dict[str, Any]] = []
    server = [sys.executable, "-m", "benchmarks.runtime.mcp_server", "--port", str(port)]
    with running(server, {}, DRIVER_CPU) as mcp_server:
        wait_healthy(f"http://127.0.0.1:{port}/health", mcp_server)
        url = f"http://127.0.0.1:{port}/mcp"
        for variant in args.variants.split(","):
            python = str(AGNO_PYTHON) if variant == "agno" else sys.executable
            worker = [python, "-m", "benchmarks.runtime.mcp_cost", "--worker", variant, url, str(args.calls)]
            done = subprocess.run(pinned("0", worker), cwd=ROOT, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    args.output.write_text(json.dumps({"calls": args.calls, "rows": rows}, indent=2) + "\n")
    print(report(rows))


def report(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, each with its CPU above the bare SDK client's."""
    base = next((row["cpu_ms_per_call"] for row in rows if row["variant"] == BASELINE), None)
    if base is None:
        raise ValueError(f"the rows must include the `{BASELINE}` variant: it is the baseline")
    lines = [
        f"| client | CPU ms / call | above `{BASELINE}` | wall ms / call | import + connect s | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| `{row['variant']}` | {row['cpu_ms_per_call']:.3f} | {row['cpu_ms_per_call'] - base:+.3f} "
            f"| {row['wall_ms_per_call']:.3f} | {row['import_and_connect_s']:.2f} | {row['peak_rss_mb']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2:])
    else:
        main()
