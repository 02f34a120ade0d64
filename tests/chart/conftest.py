"""The real helm binary, with a home of its own, for every chart test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELM = shutil.which("helm", path=str(ROOT / ".venv" / "bin")) or shutil.which("helm")


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    assert HELM, "helm is not installed: run scripts/install-helm.sh"
    home = tmp_path_factory.mktemp("helm-home")
    os.environ.setdefault("HELM_CACHE_HOME", str(home / "cache"))
    os.environ.setdefault("HELM_CONFIG_HOME", str(home / "config"))
    os.environ.setdefault("HELM_DATA_HOME", str(home / "data"))
    yield [HELM]
