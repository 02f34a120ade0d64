"""Fixtures of the knowledge tests: a knowledge space (a database for hubs, with a data
directory of the test's own) on SQLite (sqlite-vec) and PostgreSQL (pgvector), or on SQLite
only where the backend does not matter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.runtime.knowledge.hubs import KnowledgeSpace, knowledge_space


@pytest.fixture(params=["sqlite", "postgres"])
async def space(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KnowledgeSpace]:
    async with knowledge_space(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
async def sqlite_space(tmp_path: Path) -> AsyncIterator[KnowledgeSpace]:
    async with knowledge_space("sqlite", tmp_path) as opened:
        yield opened
