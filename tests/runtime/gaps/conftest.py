"""Fixtures of the gap tests: the local OpenAI-compatible server, and one storage backend per run.

PostgreSQL or Redis being down makes the tests on them fail, never skip.
"""

from __future__ import annotations

import pytest

from tests.support.databases import SERVER_BACKENDS
from tests.support.fake_openai import fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]


@pytest.fixture(params=SERVER_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind
