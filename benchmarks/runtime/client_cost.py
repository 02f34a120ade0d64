"""What a model request costs the client: the runtime's endpoint against the OpenAI SDK's client.

    .venv/bin/python -m benchmarks.runtime.client_cost [--requests 2000]

The question this answers (issue: "find the design that keeps the SDK's client and removes
the waste"): how much CPU and memory the SDK's client adds per request when the per-chunk work
is taken out of it. Each variant runs in a fresh process pinned to CPU 0, the model server on
CPU 1, and sends the same request (a 20-chunk stream, or the JSON answer) one at a time:

- ``endpoint``: ``llm.endpoint.Endpoint``, what the runtime uses (plain HTTP: ``llm.http11``);
- ``sdk``: ``openai.AsyncOpenAI().chat.completions.create``, the SDK as documented;
- ``sdk-raw``: the SDK's client kept for auth, base URL and retries, the answer read as raw
  lines (``client.post(..., cast_to=httpx2.Response)``), so no per-chunk model objects;
- ``sdk-raw-http11``: the same, over an ``httpx2`` transport backed by ``llm.http11``, so only
  the SDK's request building and ``httpx2``'s request/response objects remain.

Reported per variant and mode: client CPU ms per request (``time.process_time``), seconds to
import the client, and the process's peak RSS. Results are printed as Markdown and written to
``benchmarks/results/client-cost-latest.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.runtime.run import ROOT, compile_bytecode, model_server, pinned

VARIANTS = ("endpoint", "sdk", "sdk-raw", "sdk-raw-http11")
MODES = ("json", "stream")
WARM_UP = 100
MESSAGES = [{"role": "user", "content": "Say something."}]


def _http11_transport(host: str, port: int) -> Any:
    """An ``httpx2`` transport whose requests go through the runtime's HTTP/1.1 pool."""
    import httpx2
    from agentos_runtime.llm.http11 import Answer, Http11Pool

    class PoolStream(httpx2.AsyncByteStream):
        def __init__(self, answer: Answer) -> None:
            self._answer = answer

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for line in self._answer.lines():
                yield line.encode() + b"\n"

        async def aclose(self) -> None:
            await self._answer.aclose()

    class PoolTransport(httpx2.AsyncBaseTransport):
        def __init__(self) -> None:
            self._pool = Http11Pool(host, port, timeout=30)

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            body = await request.aread()
            skip = {"host", "content-length", "connection"}  # the pool writes its own
            headers = {name: value for name, value in request.headers.items() if name.lower() not in skip}
            answer = await self._pool.post(request.url.raw_path.decode(), headers, body)
            return httpx2.Response(answer.status, headers=answer.headers, stream=PoolStream(answer), request=request)

    return PoolTransport()


def _client(variant: str, base_url: str, port: int, stream: bool) -> Callable[[], Awaitable[None]]:
    """One request of the variant, its answer read to the end."""
    body: dict[str, Any] = {"model": "fake-model", "messages": MESSAGES, "stream": stream}
    if variant == "endpoint":
        from agentos_runtime.llm.endpoint import Endpoint

        endpoint = Endpoint(base_url=base_url, api_key="benchmark-key", timeout=30, max_retries=2)

        async def with_endpoint() -> None:
            answer = await endpoint.post("/chat/completions", body)
            if stream:
                async for _line in answer.lines():
                    pass
            else:
                await answer.read()

        return with_endpoint

    import httpx2
    import openai

    http_client = httpx2.AsyncClient(transport=_http11_transport("127.0.0.1", port)) if variant.endswith("11") else None
    client = openai.AsyncOpenAI(
        api_key="benchmark-key", base_url=base_url, max_retries=2, timeout=30, http_client=http_client
    )
    if variant == "sdk":

        async def with_sdk() -> None:
            if stream:
                async for _chunk in await client.chat.completions.create(
                    model="fake-model", messages=MESSAGES, stream=True
                ):
                    pass
            else:
                await client.chat.completions.create(model="fake-model", messages=MESSAGES)

        return with_sdk

    async def with_sdk_raw() -> None:
        response = await client.post("/chat/completions", body=body, cast_to=httpx2.Response, stream=stream)
        if stream:
            async for _line in response.aiter_lines():
                pass
            await response.aclose()
        else:
            await response.aread()

    return with_sdk_raw


async def _measure(variant: str, mode: str, base_url: str, port: int, requests: int) -> dict[str, Any]:
    started = time.perf_counter()
    one = _client(variant, base_url, port, mode == "stream")
    import_s = time.perf_counter() - started
    for _ in range(WARM_UP):
        await one()
    cpu = time.process_time()
    for _ in range(requests):
        await one()
    cpu_ms = (time.process_time() - cpu) / requests * 1000
    return {
        "variant": variant,
        "mode": mode,
        "cpu_ms_per_request": round(cpu_ms, 3),
        "import_s": round(import_s, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "sdk_loaded": "openai" in sys.modules,
    }


def _worker(argv: list[str]) -> None:
    import uvloop

    variant, mode, base_url, port, requests = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4])
    print(json.dumps(uvloop.run(_measure(variant, mode, base_url, port, requests))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "client-cost-latest.json")
    args = parser.parse_args()
    compile_bytecode(Path(sys.executable), ROOT / "runtime", ROOT / "benchmarks", ROOT / "tests")
    rows: list[dict[str, Any]] = []
    with model_server() as base_url:
        port = urlsplit(base_url).port
        for mode in MODES:
            for variant in args.variants.split(","):
                argv = [variant, mode, base_url, str(port), str(args.requests)]
                worker = [sys.executable, "-m", "benchmarks.runtime.client_cost", "--worker", *argv]
                done = subprocess.run(pinned("0", worker), cwd=ROOT, capture_output=True, text=True, check=True)
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    args.output.write_text(json.dumps({"requests": args.requests, "rows": rows}, indent=2) + "\n")
    print(report(rows))


def report(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, each with its cost above the runtime's endpoint."""
    base = {row["mode"]: row["cpu_ms_per_request"] for row in rows if row["variant"] == "endpoint"}
    if set(base) != {row["mode"] for row in rows}:
        raise ValueError("the rows must include the `endpoint` variant for each mode: it is the baseline")
    lines = [
        "| mode | client | CPU ms / request | above `endpoint` | import s | peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        extra = row["cpu_ms_per_request"] - base[row["mode"]]
        lines.append(
            f"| {row['mode']} | `{row['variant']}` | {row['cpu_ms_per_request']:.2f} | {extra:+.2f} "
            f"| {row['import_s']:.2f} | {row['peak_rss_mb']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2:])
    else:
        main()
