"""Fixtures of the fuzz and document tests: the storage backend and the fake model server."""

from __future__ import annotations

import pytest

from tests.support.databases import SERVER_BACKENDS
from tests.support.fake_openai import fake_openai, fake_openai_server  # noqa: F401


@pytest.fixture(params=SERVER_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind
