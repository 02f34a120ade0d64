"""The distribution's shape: packages importable, and the standard library left alone."""

import importlib
import operator
import subprocess
import sys
import sysconfig
from pathlib import Path


def test_import_operator_still_gives_the_standard_library_module() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(operator.__file__).resolve().parent == stdlib
    assert operator.add(2, 3) == 5


def test_import_operator_in_a_fresh_interpreter_from_the_repository_root() -> None:
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", "import operator; print(operator.__file__)"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "agentos" not in out and Path(out.strip()).name == "operator.py"


def test_both_packages_import_from_the_installed_distribution() -> None:
    assert importlib.import_module("agentos_operator").GROUP == "agentos.dev"
    assert importlib.import_module("agentos_runtime").__version__


def test_operator_directory_has_no_init_module() -> None:
    root = Path(__file__).resolve().parents[1]
    assert not (root / "operator" / "__init__.py").exists()


def test_every_subcommand_has_a_help_screen() -> None:
    for command in ("serve", "operator", "validate", "render", "crd"):
        result = subprocess.run(
            [sys.executable, "-m", "agentos_operator.cli", command, "--help"],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("\n") < 60, f"{command} --help is longer than one screen"
