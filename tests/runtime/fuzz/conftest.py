"""Fixtures of the fuzz and document tests: the fake model server (the storage backend is
``tests/runtime/conftest.py``'s)."""

from __future__ import annotations

from tests.support.fake_openai import fake_openai, fake_openai_server  # noqa: F401
