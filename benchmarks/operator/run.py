"""Run the operator benchmark and check it against its targets.

    .venv/bin/python -m benchmarks.operator.run [--resources 1000] [--scenarios cold-start,create]
                                                [--foreign-secrets 0]

Writes benchmarks/results/operator-latest.json and prints the figures as Markdown. Exits 1 when
a target is not met, so a regression shows in the exit status too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.operator import operator_process, report, scenarios

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "operator-latest.json"
SCENARIOS = {"cold-start": scenarios.cold_start, "create": scenarios.create}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.operator.run", description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=1000, help="AgentOSConfig resources per scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list of: " + ", ".join(SCENARIOS))
    parser.add_argument(
        "--foreign-secrets", type=int, default=0, help="other tenants' Secrets in the cluster (4 KiB each)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a phase after this many seconds")
    parser.add_argument(
        "--quiet-seconds", type=float, default=2.0, help="a phase ends once the operator made no request this long"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the JSON results")
    return parser.parse_args(argv)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("kopf", "aiohttp", "kmock", "pydantic", "kube-agentos"):
        found[package] = metadata.version(package)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    found["commit"] = commit.stdout.strip()
    found["cpu"] = _cpu_model()
    return found


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="operator-bench-") as work:
        setup = scenarios.Setup(args.resources, args.foreign_secrets, Path(work), args.timeout, args.quiet_seconds)
        for name in names:
            print(f"running {name} with {args.resources} resources...", file=sys.stderr, flush=True)
            results[name] = await SCENARIOS[name](setup)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    operator_process.pin(operator_process.BENCHMARK_CPU)  # the operator gets the other CPU to itself
    results = asyncio.run(run(args))
    targets = report.check_targets(results, args.resources)
    document = {
        "command": " ".join([".venv/bin/python -m benchmarks.operator.run", *(argv or sys.argv[1:])]),
        "resources": args.resources,
        "foreign_secrets": args.foreign_secrets,
        "versions": versions(),
        "scenarios": results,
        "targets": targets,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(report.markdown(document))
    return 0 if all(target["met"] for target in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
