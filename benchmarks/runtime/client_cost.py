"""What a model request costs the client: the runtime's adapter on the OpenAI SDK, and its neighbours.

    .venv/bin/python -m benchmarks.runtime.client_cost [--requests 2000]

Each variant runs in a fresh process pinned to CPU 0, the model server on CPU 1, and sends the
same request (a 20-chunk stream, or the JSON answer) one at a time:

- ``httpx2``: the SDK's HTTP library alone, posting the JSON and reading the answer's lines:
  the floor under any client built on it (the baseline the others are shown above);
- ``runtime``: ``llm.openai.OpenAIChatModel``, what the runtime uses: the SDK's
  ``AsyncOpenAI`` (auth, base URL, timeout, retries, error types) on the SDK's aiohttp
  transport, the answer taken raw and parsed once per chunk into the runtime's ``Completion``;
- ``sdk-raw``: the SDK's client with its raw answer (``client.post(..., cast_to=httpx2.Response)``),
  lines read and not parsed, on the SDK's default transport (``httpx2``'s own);
- ``sdk``: ``chat.completions.create``, the SDK as documented (a model object per chunk).

Reported per variant and mode: client CPU ms per request (``time.process_time``), seconds to
import and build the client, and the process's peak RSS. Results are printed as Markdown and
written to ``benchmarks/results/client-cost-latest.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.runtime.run import ROOT, compile_bytecode, model_server, pinned

BASELINE = "httpx2"
VARIANTS = (BASELINE, "runtime", "sdk-raw", "sdk")
MODES = ("json", "stream")
WARM_UP = 100
MESSAGES = [{"role": "user", "content": "Say something."}]


def _client(variant: str, base_url: str, stream: bool) -> Callable[[], Awaitable[None]]:
    """One request of the variant, its answer read to the end."""
    body: dict[str, Any] = {"model": "fake-model", "messages": MESSAGES, "stream": stream}
    if variant == BASELINE:
        import httpx2

        http = httpx2.AsyncClient(timeout=30, verify=False)
        content = json.dumps(body).encode()
        headers = {"Authorization": "Bearer benchmark-key", "Content-Type": "application/json"}

        async def with_httpx2() -> None:
            request = http.build_request("POST", base_url + "/chat/completions", content=content, headers=headers)
            response = await http.send(request, stream=True)
            if stream:
                async for _line in response.aiter_lines():
                    pass
            else:
                await response.aread()
            await response.aclose()

        return with_httpx2

    if variant == "runtime":
        from agentos_runtime.config import ModelConfig
        from agentos_runtime.llm.openai import OpenAIChatModel

        model = OpenAIChatModel(ModelConfig(id="fake-model", base_url=base_url, timeout=30), api_key="benchmark-key")
        model.prepare()

        async def with_runtime() -> None:
            if stream:
                async for _item in model.stream(MESSAGES, None):
                    pass
            else:
                await model.complete(MESSAGES, None)

        return with_runtime

    import httpx2
    import openai

    client = openai.AsyncOpenAI(api_key="benchmark-key", base_url=base_url, max_retries=2, timeout=30)
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


async def _measure(variant: str, mode: str, base_url: str, requests: int) -> dict[str, Any]:
    started = time.perf_counter()
    one = _client(variant, base_url, mode == "stream")
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

    variant, mode, base_url, requests = argv[0], argv[1], argv[2], int(argv[3])
    print(json.dumps(uvloop.run(_measure(variant, mode, base_url, requests))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "client-cost-latest.json")
    args = parser.parse_args()
    compile_bytecode(Path(sys.executable), ROOT / "runtime", ROOT / "benchmarks", ROOT / "tests")
    rows: list[dict[str, Any]] = []
    with model_server() as base_url:
        for mode in MODES:
            for variant in args.variants.split(","):
                argv = [variant, mode, base_url, str(args.requests)]
                worker = [sys.executable, "-m", "benchmarks.runtime.client_cost", "--worker", *argv]
                done = subprocess.run(pinned("0", worker), cwd=ROOT, capture_output=True, text=True, check=True)
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    args.output.write_text(json.dumps({"requests": args.requests, "rows": rows}, indent=2) + "\n")
    print(report(rows))


def report(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, each with its cost above the bare HTTP library's."""
    base = {row["mode"]: row["cpu_ms_per_request"] for row in rows if row["variant"] == BASELINE}
    if set(base) != {row["mode"] for row in rows}:
        raise ValueError(f"the rows must include the `{BASELINE}` variant for each mode: it is the baseline")
    lines = [
        f"| mode | client | CPU ms / request | above `{BASELINE}` | import s | peak RSS MB |",
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
