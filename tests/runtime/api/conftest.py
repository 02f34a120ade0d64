"""Fixtures for the HTTP API tests (the serving harness is ``harness.py``).

``served`` runs the app once per storage backend through the real ``open_database`` factory;
PostgreSQL or Redis being down makes those tests fail, never skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agentos_runtime.storage.factory import open_database

from tests.runtime.api.harness import BASIC_CONFIG, Served, serve, serve_on
from tests.support.fake_openai import fake_openai, fake_openai_server  # noqa: F401


@pytest.fixture
async def served(backend: str, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, BASIC_CONFIG, tmp_path) as running:
        yield running


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Served]:
    """The app with no database declared: one embedded SQLite file in the data dir."""
    async with serve(BASIC_CONFIG, data_dir=tmp_path, open_database=open_database) as running:
        yield running
