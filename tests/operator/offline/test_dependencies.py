"""The operator's dependencies: what its code imports is declared, and the official Kubernetes client is neither."""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

from tests.operator.offline.inputs import ROOT

OPERATOR = ROOT / "operator" / "agentos_operator"
RUNTIME = ROOT / "runtime" / "agentos_runtime"
# Imported directly though not declared, and why that is sound.
PROVIDED_BY = {
    # pydantic's own core, pinned to one exact version by pydantic; its errors are pydantic's API.
    "pydantic_core": "pydantic",
}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {_normalised(Requirement(line).name) for line in project["dependencies"]}


def _normalised(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def imported_packages(package: Path) -> set[str]:
    """The top-level names every module of ``package`` imports, absolute imports only, standard library left out."""
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and not name.startswith("agentos_")}


def test_every_package_the_operator_imports_is_a_declared_dependency() -> None:
    distributions = packages_distributions()
    dependencies = declared()
    undeclared = {
        name: distributions.get(name, ["(not installed)"])
        for name in imported_packages(OPERATOR) - PROVIDED_BY.keys()
        if not {_normalised(d) for d in distributions.get(name, [])} & dependencies
    }
    assert undeclared == {}
    assert "aiohttp" in imported_packages(OPERATOR) and "aiohttp" in dependencies


def test_what_an_undeclared_import_is_provided_by_is_declared() -> None:
    assert set(PROVIDED_BY.values()) <= declared()


def test_the_official_kubernetes_client_is_neither_declared_nor_imported() -> None:
    assert "kubernetes" not in declared()
    assert "kubernetes" not in imported_packages(OPERATOR) | imported_packages(RUNTIME)
