"""The distribution's shape: packages importable, the standard library left alone, a lean first install."""

import importlib
import operator
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


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


def project_metadata() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_license_is_an_spdx_expression_which_the_build_backend_understands() -> None:
    # setuptools 77 is the first to read `license` as an SPDX expression; older ones warn about it.
    metadata = project_metadata()
    assert metadata["project"]["license"] == "Apache-2.0"
    [backend] = [Requirement(r) for r in metadata["build-system"]["requires"] if Requirement(r).name == "setuptools"]
    assert backend.specifier.contains("77") and not backend.specifier.contains("76.9")


def test_setup_installs_the_project_without_its_test_tools() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    commands = [line for line in setup.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert any(re.search(r"pip install -qq -e \.$", line) for line in commands), (
        "setup.sh installs the project, printing errors only (setuptools' editable-install notice is noise here)"
    )
    assert not re.search(r"\[test\]|checkov|helm", "\n".join(commands)), "test tools belong to scripts/test.sh"


def test_the_test_command_installs_the_test_tools_after_setup() -> None:
    test = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    commands = [line for line in test.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    setup = commands.index("bash scripts/setup.sh")
    first_test = next(i for i, line in enumerate(commands) if "pytest" in line)
    installs = "\n".join(commands[setup + 1 : first_test])
    for tool in ("pip install -q -e '.[test]'", "scripts/install-checkov.sh", "scripts/install-helm.sh"):
        assert tool in installs


def test_the_readme_starts_with_setup_then_serve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_command = readme.split("```bash\n", 1)[1].splitlines()[0]
    assert first_command.startswith("bash scripts/setup.sh && .venv/bin/agentos serve --config ")
