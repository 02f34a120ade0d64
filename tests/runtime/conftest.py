"""Fixtures shared by the runtime tests: one storage backend per run.

Runs are stored through the real ``open_database`` factory on SQLite, PostgreSQL and Redis;
PostgreSQL or Redis being down makes those tests fail, never skip. Tests that vary other
backends (the knowledge tests: SQLite and pgvector) define their own ``backend``.
"""

from __future__ import annotations

import pytest

from tests.support.databases import SERVER_BACKENDS


@pytest.fixture(params=SERVER_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind
