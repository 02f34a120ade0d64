"""Fixtures of the team tests: the local OpenAI-compatible server (the storage backend per run
is ``tests/runtime/conftest.py``'s)."""

from __future__ import annotations

from tests.support.fake_openai import fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]
