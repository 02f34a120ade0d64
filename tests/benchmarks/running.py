"""Running a benchmark as its README says: ``python -m`` from the repository root, its output kept."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_module(module: str, *argv: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m module argv`` with this interpreter, from the repository root; stdout and
    stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
