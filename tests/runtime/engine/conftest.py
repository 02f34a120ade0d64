"""Fixtures of the engine tests: the local OpenAI-compatible server."""

from tests.support.fake_openai import fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]
