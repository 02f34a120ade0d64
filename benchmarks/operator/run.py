"""Run the operator benchmark and check it against its targets.

    .venv/bin/python -m benchmarks.operator.run [--resources 1000] [--scenarios cold-start,create]
                                                [--foreign-secrets 0] [--mode emulator|real]
                                                [--operator-commit REV]

``--mode emulator`` (the default) runs against the test emulator and writes
benchmarks/results/operator-latest.json; ``--mode real`` starts a real control plane
(scripts/control-plane.sh) per scenario and writes benchmarks/results/operator-real-latest.json.
Prints the figures as Markdown. Exits 1 when a target is not met, so a regression shows in the
exit status too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.operator import cluster, operator_process, report, scenarios

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_OUTPUT = {"emulator": RESULTS / "operator-latest.json", "real": RESULTS / "operator-real-latest.json"}
SCENARIOS = {"cold-start": scenarios.cold_start, "create": scenarios.create}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.operator.run", description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=1000, help="AgentOSConfig resources per scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list of: " + ", ".join(SCENARIOS))
    parser.add_argument(
        "--foreign-secrets", type=int, default=0, help="other tenants' Secrets in the cluster (4 KiB each)"
    )
    parser.add_argument(
        "--mode",
        choices=("emulator", "real"),
        default="emulator",
        help="the API server: the test emulator, or a real control plane started per scenario",
    )
    parser.add_argument(
        "--kubernetes-version", default="", help="the real control plane's version (default: the newest tested)"
    )
    parser.add_argument(
        "--operator-commit",
        default="",
        help="run the operator's code as of this commit (git archive), not the working tree's",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a phase after this many seconds")
    parser.add_argument(
        "--quiet-seconds", type=float, default=2.0, help="a phase ends once the operator made no request this long"
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON results (default: by mode)")
    parser.add_argument(
        "--work-dir", type=Path, help="keep logs (and audit logs) here instead of a temporary directory"
    )
    return parser.parse_args(argv)


def versions(args: argparse.Namespace) -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("kopf", "aiohttp", "kmock", "pydantic", "kube-agentos"):
        found[package] = metadata.version(package)
    found["commit"] = _git("rev-parse", "--short", "HEAD")
    if args.operator_commit:
        found["operator_code"] = f"commit {_git('rev-parse', '--short', args.operator_commit)} (git archive)"
    else:
        dirty = _git("status", "--porcelain", "--", "operator", "runtime").splitlines()
        found["operator_code"] = "working tree" + (f", {len(dirty)} file(s) differ from HEAD" if dirty else "")
    if args.mode == "real":
        found["kubernetes"] = args.kubernetes_version
    found["cpu"] = _cpu_model()
    return found


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}")
    pythonpath = None
    if args.operator_commit:
        pythonpath = operator_process.export_source(args.operator_commit, work / "operator-source")
    setup = scenarios.Setup(
        args.resources,
        args.foreign_secrets,
        work,
        args.timeout,
        args.quiet_seconds,
        mode=args.mode,
        kubernetes=args.kubernetes_version,
        pythonpath=pythonpath,
    )
    results: dict[str, Any] = {}
    for name in names:
        print(f"running {name} with {args.resources} resources ({args.mode})...", file=sys.stderr, flush=True)
        results[name] = await SCENARIOS[name](setup)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.mode == "real":
        # The control plane's five processes share the machine with the operator: nothing is pinned.
        args.kubernetes_version = args.kubernetes_version or cluster.versions()[0]
    else:
        operator_process.pin(operator_process.BENCHMARK_CPU)  # the operator gets the other CPU to itself
    load_before = os.getloadavg()
    # Before the run: others may commit to the same checkout meanwhile.
    found_versions = versions(args)
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        results = asyncio.run(run(args, args.work_dir.resolve()))
    else:
        with tempfile.TemporaryDirectory(prefix="operator-bench-") as work:
            results = asyncio.run(run(args, Path(work)))
    targets = report.check_targets(results, args.resources)
    document = {
        "command": " ".join([".venv/bin/python -m benchmarks.operator.run", *(argv or sys.argv[1:])]),
        "mode": args.mode,
        "resources": args.resources,
        "foreign_secrets": args.foreign_secrets,
        "versions": found_versions,
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        "scenarios": results,
        "targets": targets,
    }
    output = args.output or DEFAULT_OUTPUT[args.mode]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n")
    print(report.markdown(document))
    return 0 if all(target["met"] for target in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
