"""Profile our server under one benchmark scenario with py-spy, and print where the time goes.

    .venv/bin/python -m benchmarks.runtime.profiling --backend sqlite --scenario "json c=8 fresh" [--requests 2000]

The same set-up as ``run.py`` (model server, PostgreSQL and Redis on CPU 1, our server on CPU
0); py-spy samples the server while the driver runs the scenario, writes collapsed stacks to
``--out`` and this prints the functions with the largest inclusive and self share of the samples.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from benchmarks.runtime.driver import run_scenario
from benchmarks.runtime.run import (
    DRIVER_CPU,
    SERVER_CPU,
    Server,
    discard_stored,
    model_server,
    our_server,
    running,
    scenarios,
    services_on,
    wait_healthy,
    wait_settled,
)

PY_SPY = Path(sys.executable).parent / "py-spy"


def top_frames(collapsed: Path, limit: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Total samples, and the frames with the most inclusive and self samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    return total, inclusive.most_common(limit), own.most_common(limit)


@contextmanager
def discarded(server: Server) -> Iterator[None]:
    """Delete what ``server`` stored, once the profile is taken."""
    try:
        yield
    finally:
        discard_stored([server])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres", "redis"])
    parser.add_argument("--scenario", default="json c=8 fresh")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/agentos-profile.txt"))
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    scenario = next(s for s in scenarios(args.requests) if s.name == args.scenario)
    services = services_on(DRIVER_CPU) if args.backend != "sqlite" else nullcontext(0)
    with tempfile.TemporaryDirectory() as tmp, services:
        work = Path(tmp)
        with model_server() as model_url:
            server = our_server(args.backend, model_url, work)
            with discarded(server), running(server.argv, server.env, SERVER_CPU) as process:
                base = f"http://127.0.0.1:{server.port}"
                wait_healthy(f"{base}/health", process)
                wait_settled(process.pid)  # the start-up's background work is not what is profiled
                record = [str(PY_SPY), "record", "--pid", str(process.pid), "--format", "raw", "-o", str(args.out)]
                spy = subprocess.Popen(
                    [*record, "--rate", "500", "--gil"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                outcome = asyncio.run(run_scenario(base, "bench", scenario, headers={}))
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
    print(f"{scenario.name}: {outcome.throughput:.1f} req/s, {outcome.errors} errors (under py-spy)")
    total, inclusive, own = top_frames(args.out, args.top)
    width = shutil.get_terminal_size((160, 20)).columns - 10
    print(f"\n{total} samples; inclusive:")
    for frame, count in inclusive:
        print(f"{100 * count / total:6.1f}%  {frame[:width]}")
    print("\nself:")
    for frame, count in own:
        print(f"{100 * count / total:6.1f}%  {frame[:width]}")


if __name__ == "__main__":
    main()
