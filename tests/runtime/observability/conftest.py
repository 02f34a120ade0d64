"""Fixtures for the observability tests: the fake OpenAI server (the app harness is ``apps.py``)."""

from tests.support.fake_openai import fake_openai, fake_openai_server  # noqa: F401
