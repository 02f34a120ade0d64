"""A runtime without knowledge bases loads nothing of knowledge: no vector extension, no PDF reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, sys, pathlib
from agentos_runtime.config import parse_config
from agentos_runtime.settings import Settings
from agentos_runtime.api.assembly import Connectors, open_context, close_context
from agentos_runtime.storage.factory import open_database
async def main():
    config = parse_config({"models": [{"id": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": None}],
        "agents": [{"id": "a"}]%s})
    settings = Settings(data_dir=pathlib.Path(%r))
    context = await open_context(settings, config, os_id="x", connectors=Connectors(environ={}, open_database=open_database))
    await close_context(context)
asyncio.run(main())
heavy = ("sqlite_vec", "sqlean", "pypdf", "agentos_runtime.knowledge.stores", "agentos_runtime.knowledge.base")
print(" ".join(sorted({m.split(".")[0] if not m.startswith("agentos") else m for m in sys.modules if m.startswith(heavy)})))
"""


def loaded(tmp_path: Path, extra: str = "") -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT % (extra, str(tmp_path))], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_a_runtime_without_knowledge_bases_loads_no_knowledge_library(tmp_path: Path) -> None:
    assert loaded(tmp_path) == set()


def test_a_runtime_with_a_knowledge_base_loads_its_store_and_no_pdf_reader_until_a_pdf_comes(tmp_path: Path) -> None:
    base = ', "knowledge_bases": [{"id": "k", "embedder": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": None}}]'
    found = loaded(tmp_path, base)
    assert "agentos_runtime.knowledge.base" in found and "sqlite_vec" in found and "pypdf" not in found
