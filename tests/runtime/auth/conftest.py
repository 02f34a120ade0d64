"""Fixtures for the access-control tests: the fake OpenAI server (configs are in ``apps.py``)."""

from tests.support.fake_openai import fake_openai, fake_openai_server  # noqa: F401
