"""Fixtures of the metrics tests: the local OpenAI-compatible server (the backend per param is
``tests/runtime/conftest.py``'s)."""

from __future__ import annotations

from tests.support.fake_openai import fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]
