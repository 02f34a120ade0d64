"""Run the runtime benchmark: ours (SQLite, PostgreSQL, Redis) and Agno's AgentOS, side by side.

    .venv/bin/python -m benchmarks.runtime.run [--requests 1000] [--servers ours-sqlite,agno-sqlite,...]

The server under test is pinned to CPU 0; everything it talks to (the model server, PostgreSQL,
Redis) and this driver to CPU 1, so no other process shares the measured server's core. Results are
written to benchmarks/results/runtime-latest.json and printed as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import aiohttp
import yaml

from benchmarks.runtime import procstat
from benchmarks.runtime.driver import Outcome, Sample, Scenario, run_scenario, summarise
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
AGNO_PYTHON = ROOT / "benchmarks" / ".venv-agno" / "bin" / "python"
SERVER_CPU, DRIVER_CPU = "0", "1"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/15"
# What a Redis key prefix of a server is made of (a glob would match other keys).
PLAIN_NAME = re.compile(r"[A-Za-z0-9_]+")
# The storage services' processes, moved to the driver's CPU for the run.
SERVICES = frozenset({"postgres", "redis-server"})
# Cold starts on storage that exists, after the first (median reported).
RESTARTS = 3
# The packages whose versions a result records (ours; Agno's is asked of its own virtualenv).
VERSIONS_OF = (
    "kube-agentos",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "openai",
    "httpx2",
    "aiohttp",
    "psycopg",
    "redis",
)


@dataclass(frozen=True)
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    # Where the server keeps its data outside the run's temporary directory, removed once the run
    # is over (``discard_stored``): its Redis key prefix, its PostgreSQL schema.
    redis_prefix: str | None = None
    postgres_schema: str | None = None


def discard_stored(servers: Iterable[Server]) -> None:
    """Delete what ``servers`` stored in Redis (the keys under their prefixes) and in PostgreSQL
    (their schemas). Left there, every run's sessions and runs would pile up, run after run: a
    day of runs left Redis 350,000 keys and 440 MB. A service that cannot be reached is named in a
    warning, with what was left in it: the run's results are kept all the same."""
    servers = list(servers)
    prefixes = [server.redis_prefix for server in servers if server.redis_prefix]
    schemas = [server.postgres_schema for server in servers if server.postgres_schema]
    for prefix in prefixes:  # matched as a glob below: a prefix holding one would match others' keys
        if not PLAIN_NAME.fullmatch(prefix):
            raise ValueError(f"Redis key prefix {prefix!r} is not letters, digits and underscores")
    if prefixes:
        try:
            _discard_keys(prefixes)
        except Exception as error:
            print(f"warning: Redis keys under {', '.join(prefixes)} are left: {error}", file=sys.stderr)
    if schemas:
        try:
            _discard_schemas(schemas)
        except Exception as error:
            print(f"warning: PostgreSQL schemas {', '.join(schemas)} are left: {error}", file=sys.stderr)


def _discard_keys(prefixes: list[str]) -> None:
    import redis

    with redis.Redis.from_url(REDIS_URL, socket_timeout=10) as client:
        for prefix in prefixes:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for start in range(0, len(keys), 1000):
                client.unlink(*keys[start : start + 1000])


def _discard_schemas(schemas: list[str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), autocommit=True, connect_timeout=10) as connection:
        for schema in schemas:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def services_on(cpu: str) -> Iterator[int]:
    """Pin every thread of the running PostgreSQL and Redis to ``cpu`` (a new PostgreSQL backend
    inherits it from the postmaster); yield how many were moved; put each back when done."""
    moved: dict[int, set[int]] = {}
    for task in procstat.tasks_named(SERVICES):
        try:
            before = os.sched_getaffinity(task)
            os.sched_setaffinity(task, {int(cpu)})
        except OSError:  # ended meanwhile, or not ours to move
            continue
        moved[task] = before
    try:
        yield len(moved)
    finally:
        for task, before in moved.items():
            try:
                os.sched_setaffinity(task, before)
            except OSError:
                pass


def pinned(cpu: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if shutil.which("taskset") else argv


def our_server(backend: str, model_url: str, work: Path) -> Server:
    port = free_port()
    databases: list[dict[str, Any]] = []
    stored: dict[str, str] = {}
    # Metrics stay on, as by default, on a port of their own so two servers never collide.
    env = {"BENCH_MODEL_KEY": "benchmark-key", "AGENTOS_METRICS_PORT": str(free_port())}
    if backend == "postgres":
        stored["postgres_schema"] = f"bench_{uuid.uuid4().hex[:8]}"
        databases = [{"id": "bench-db", "type": "postgres", "db_schema": stored["postgres_schema"]}]
        env["DATABASE_URL"] = POSTGRES_URL
    elif backend == "redis":
        stored["redis_prefix"] = f"bench{uuid.uuid4().hex[:8]}"
        databases = [{"id": "bench-db", "type": "redis", "key_prefix": stored["redis_prefix"]}]
        env["REDIS_URL"] = REDIS_URL
    config = {
        "os_id": "bench-os",
        "models": [{"id": "fake-model", "base_url": model_url, "api_key_env": "BENCH_MODEL_KEY"}],
        "databases": databases,
        "agents": [
            {
                "id": "bench",
                "name": "Bench",
                "model": "fake-model",
                "instructions": ["Answer briefly."],
                "add_history_to_context": True,
                "num_history_runs": 3,
            }
        ],
    }
    path = work / f"ours-{backend}.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = [str(ROOT / ".venv" / "bin" / "agentos"), "serve", "--config", str(path), "--port", str(port)]
    argv += ["--data-dir", str(work / f"data-{backend}")]
    return Server(f"ours-{backend}", argv, env, port, **stored)


def agno_server(storage: str, model_url: str, work: Path) -> Server:
    """Agno's AgentOS on ``storage`` (``sqlite``, ``postgres`` or ``redis``): Agno's own
    ``SqliteDb``, ``PostgresDb`` or ``RedisDb``, in a fresh file, schema or key prefix."""
    port = free_port()
    argv = [str(AGNO_PYTHON), "-m", "benchmarks.runtime.agno_server", "--port", str(port), "--model-url", model_url]
    namespace = f"agno_{uuid.uuid4().hex[:8]}"
    stored: dict[str, str] = {}
    if storage == "sqlite":
        argv += ["--db-file", str(work / "agno.db")]
    elif storage == "postgres":
        argv += ["--postgres-url", POSTGRES_URL, "--namespace", namespace]
        stored["postgres_schema"] = namespace
    elif storage == "redis":
        argv += ["--redis-url", REDIS_URL, "--namespace", namespace]
        stored["redis_prefix"] = namespace
    else:
        raise ValueError(f"no Agno server on {storage!r}: sqlite, postgres or redis")
    return Server(f"agno-{storage}", argv, {}, port, **stored)


@dataclass
class Running:
    """A started process; its stderr goes to a temporary file, not a pipe: a pipe nobody reads
    fills up and blocks a server that logs, which then measures as a hang, not as its speed."""

    process: subprocess.Popen[bytes]
    errors: IO[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr_tail(self, size: int = 2000) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")[-size:]


@contextmanager
def running(argv: list[str], env: dict[str, str], cpu: str) -> Iterator[Running]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(pinned(cpu, argv), env=full_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            yield Running(process, errors)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


CALIBRATION = "import time\nt = time.perf_counter()\ns = 0\nfor i in range(10_000_000):\n    s += i\nprint(time.perf_counter() - t)"


def calibrate() -> float:
    """Seconds CPU 0 takes for a fixed pure-Python loop: how fast the machine was for this run.

    The shared VM's speed changes from hour to hour (seen: 3.4 s on one morning); absolute
    figures are only comparable between runs with similar calibrations, ratios always are.
    """
    done = subprocess.run(pinned(SERVER_CPU, [sys.executable, "-c", CALIBRATION]), capture_output=True, text=True)
    return round(float(done.stdout), 2)


def compile_bytecode(python: Path, *extra: Path) -> None:
    """Compile a virtualenv's modules (and ``extra`` source trees) ahead of the measurements.

    Cold start is measured on compiled bytecode, as a normal install (and the image) has it.
    Where ``PYTHONDONTWRITEBYTECODE`` is set nothing else would write it, and every start would
    measure compiling the whole dependency tree (~3 s) instead of starting.
    """
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    targets = [site, *(str(path) for path in extra)]
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", *targets], check=True, stdout=subprocess.DEVNULL)


@contextmanager
def model_server() -> Iterator[str]:
    """The zero-cost model server, started on the driver's CPU; yields its base URL once it answers."""
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.runtime.model_server", "--port", str(port)]
    with running(argv, {}, DRIVER_CPU) as model:
        url = f"http://127.0.0.1:{port}/v1"
        wait_healthy(f"{url}/models", model)
        yield url


def wait_healthy(url: str, server: Running, timeout: float = 60) -> float:
    """Seconds until `url` first answered 200 (polled every 5 ms)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}: {server.stderr_tail()}")
        try:
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=1)
            conn.request("GET", parts.path)
            if conn.getresponse().status == 200:
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def wait_settled(pid: int, *, idle_s: float = 0.3, poll_s: float = 0.05, timeout: float = 30) -> float:
    """Wait until the process has used (almost) no CPU for ``idle_s``; return the CPU seconds it used meanwhile.

    After ``/health`` answers, the runtime still does one-time work in the background (a
    worker thread imports the OpenAI SDK and builds the model clients). Measuring only once it
    is done keeps that once-per-process cost out of the first scenario's CPU per request; the
    returned figure is recorded with the cold start instead.
    """
    started = used_from = procstat.cpu_seconds(pid)
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(poll_s)
        now = procstat.cpu_seconds(pid)
        if now - used_from > 0.01:  # busy: start the quiet period again
            used_from, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= idle_s:
            break
    return procstat.cpu_seconds(pid) - started


def scenarios(requests: int) -> list[Scenario]:
    return [
        Scenario(f"{'stream' if stream else 'json'} c={c} {'reused' if reuse else 'fresh'}", stream, c, requests, reuse)
        for stream in (False, True)
        for reuse in (False, True)
        for c in (1, 8, 32)
    ]


async def model_ceiling(model_url: str, requests: int) -> list[dict[str, Any]]:
    """The model server's own throughput and time to first chunk, driven directly."""
    return [
        await _model_load(model_url, requests, stream=stream, concurrency=c)
        for stream in (False, True)
        for c in (1, 32)
    ]


async def _model_load(model_url: str, requests: int, *, stream: bool, concurrency: int) -> dict[str, Any]:
    payload = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    firsts: list[float] = []
    todo = iter(range(requests))

    async def worker(http: aiohttp.ClientSession) -> None:
        for _ in todo:
            start = time.perf_counter()
            first = None
            async with http.post(f"{model_url}/chat/completions", json=payload) as response:
                async for _line in response.content:
                    if first is None:
                        first = time.perf_counter() - start
            firsts.append(first or 0.0)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        start = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    firsts.sort()
    return {
        "scenario": f"model {'stream' if stream else 'json'} c={concurrency}",
        "rps": round(requests / wall, 1),
        "first_chunk_p50_ms": round(firsts[len(firsts) // 2] * 1000, 2),
    }


# Requests before each round's measured ones (the first round of a scenario: the scenario's own).
ROUND_WARMUP = 10


@dataclass
class Live:
    """A server started for the whole run, with what its start measured."""

    server: Server
    process: Running
    start: dict[str, Any]
    rows: list[dict[str, Any]]


def start_live(server: Server, stack: ExitStack) -> Live:
    """Start ``server`` (its cold start measured), wait for its start-up work to finish, keep it running."""
    process = stack.enter_context(running(server.argv, server.env, SERVER_CPU))
    cold_start = wait_healthy(f"http://127.0.0.1:{server.port}/health", process)
    settle_cpu = wait_settled(process.pid)
    rss_start, _ = procstat.memory_mb(process.pid)
    start = {
        "cold_start_s": round(cold_start, 3),
        "rss_after_start_mb": round(rss_start, 1),
        "background_start_cpu_s": round(settle_cpu, 3),
    }
    return Live(server, process, start, [])


def bench_interleaved(servers: list[Server], requests: int, only: str | None, rounds: int) -> dict[str, Any]:
    """Every scenario on every server, in ``rounds`` rounds that take turns (the order rotating).

    The VM's speed moves by up to 2x within minutes; a scenario measured on one server, then
    minutes later on another, compares two machines. Taking turns in short rounds puts each
    server's share of the scenario in the same minutes as the others', and each round gives a
    ratio of its own (``server_cpu_ms_per_request_rounds``), whose median the report takes.
    """
    try:
        with ExitStack() as stack:
            live = [start_live(server, stack) for server in servers]
            for scenario in scenarios(requests):
                if only and only not in scenario.name:
                    continue
                _bench_scenario(live, scenario, rounds)
        for each in live:
            restarts = sorted(restart_seconds(each.server) for _ in range(RESTARTS))
            each.start["restart_s"] = round(restarts[len(restarts) // 2], 3)
    finally:
        discard_stored(servers)
    return {each.server.name: {**each.start, "scenarios": each.rows} for each in live}


def _bench_scenario(live: list[Live], scenario: Scenario, rounds: int) -> None:
    names = [each.server.name for each in live]
    sessions = {name: [str(uuid.uuid4()) for _ in range(scenario.concurrency)] for name in names}
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    wall = dict.fromkeys(names, 0.0)
    cpu_s = dict.fromkeys(names, 0.0)
    sent = dict.fromkeys(names, 0)
    per_round: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        requests = scenario.requests // rounds + (1 if number < scenario.requests % rounds else 0)
        part = replace(scenario, requests=requests, warmup=scenario.warmup if number == 0 else ROUND_WARMUP)
        for each in live[number % len(live) :] + live[: number % len(live)]:
            name = each.server.name
            cpu_before = procstat.cpu_seconds(each.process.pid)
            outcome = asyncio.run(
                run_scenario(
                    f"http://127.0.0.1:{each.server.port}",
                    "bench",
                    part,
                    headers={},
                    sessions=sessions[name] if part.reuse_session else None,
                )
            )
            used = procstat.cpu_seconds(each.process.pid) - cpu_before
            count = len(outcome.samples) + part.warmup  # the warm-up's CPU is counted, so are its runs
            per_round[name].append(used * 1000 / max(1, count))
            cpu_s[name] += used
            sent[name] += count
            samples[name] += outcome.samples
            wall[name] += outcome.wall
    for each in live:
        name = each.server.name
        row: dict[str, Any] = dict(summarise(Outcome(scenario, wall=wall[name], samples=samples[name])))
        row["server_cpu_ms_per_request"] = round(cpu_s[name] * 1000 / max(1, sent[name]), 2)
        row["server_cpu_ms_per_request_rounds"] = [round(value, 3) for value in per_round[name]]
        row["rss_mb"], row["peak_rss_mb"] = (round(v, 1) for v in procstat.memory_mb(each.process.pid))
        row["errors_detail"] = sorted({s.error for s in samples[name] if s.error})[:3]
        each.rows.append(row)
        print(json.dumps({"server": name, **row}), flush=True)


def restart_seconds(server: Server) -> float:
    """Cold start again on the storage the first start set up (its tables, files, keys exist)."""
    with running(server.argv, server.env, SERVER_CPU) as process:
        return wait_healthy(f"http://127.0.0.1:{server.port}/health", process)


def describe_run(requests: int, rounds: int) -> dict[str, Any]:
    """What a result records of its run: the machine and its speed now, the commit, the versions."""
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "calibration_s": calibrate(),
        },
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "versions": {name: metadata.version(name) for name in VERSIONS_OF},
        "requests_per_scenario": requests,
        "rounds": rounds,
    }


def compile_for(names: list[str]) -> None:
    """Compile the bytecode of our virtualenv and sources, and of Agno's when ``names`` has its servers."""
    compile_bytecode(Path(sys.executable), ROOT / "runtime", ROOT / "operator", ROOT / "benchmarks", ROOT / "tests")
    if any(name.startswith("agno-") for name in names):
        compile_bytecode(AGNO_PYTHON, ROOT / "benchmarks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument(
        "--servers", default="ours-sqlite,agno-sqlite,ours-postgres,agno-postgres,ours-redis,agno-redis"
    )
    parser.add_argument("--only", help="run only scenarios whose name contains this text")
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds each scenario is split into, servers taking turns"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "runtime-latest.json")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(DRIVER_CPU)}) if hasattr(os, "sched_setaffinity") else None
    results: dict[str, Any] = {**describe_run(args.requests, args.rounds), "servers": {}}
    names = args.servers.split(",")
    compile_for(names)
    uses_services = any(name.endswith(("-postgres", "-redis")) for name in names)
    with tempfile.TemporaryDirectory() as tmp, services_on(DRIVER_CPU) if uses_services else nullcontext(0) as moved:
        results["machine"]["service_threads_on_driver_cpu"] = moved
        work = Path(tmp)
        with model_server() as model_url:
            results["model_server"] = asyncio.run(model_ceiling(model_url, args.requests))
            print(json.dumps(results["model_server"]), flush=True)
            servers = []
            for name in names:
                if name.startswith("agno-"):
                    out = subprocess.run(
                        [str(AGNO_PYTHON), "-c", "import importlib.metadata as m; print(m.version('agno'))"],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    results["versions"]["agno"] = out.stdout.strip()
                    server = agno_server(name.removeprefix("agno-"), model_url, work)
                else:
                    server = our_server(name.removeprefix("ours-"), model_url, work)
                servers.append(server)
            results["servers"] = bench_interleaved(servers, args.requests, args.only, args.rounds)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
