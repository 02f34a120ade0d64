"""Fixtures of the eval tests: the local OpenAI-compatible server, one backend per param."""

from __future__ import annotations

import pytest

from tests.support.databases import SERVER_BACKENDS
from tests.support.fake_openai import fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]


@pytest.fixture(params=SERVER_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind
