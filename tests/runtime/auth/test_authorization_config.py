"""The runtime file's ``authorization`` block: Agno's names, defaults, and problems with their path."""

from __future__ import annotations

import pytest
from agentos_runtime.config import ConfigError, parse_config_text


def test_without_the_block_there_is_no_authorization_policy() -> None:
    assert parse_config_text("agents: []").authorization is None


def test_the_block_defaults_to_agnos_admin_scope_and_no_isolation() -> None:
    settings = parse_config_text("authorization: {}").authorization
    assert settings is not None
    assert settings.admin_scope == "agent_os:admin"
    assert settings.user_isolation is False and settings.verify_audience is False
    assert settings.audience is None and settings.algorithm is None


def test_a_single_audience_is_read_as_a_list() -> None:
    settings = parse_config_text(
        "authorization: {audience: my-os, user_isolation: true, algorithm: HS256}"
    ).authorization
    assert settings is not None
    assert settings.audience == ["my-os"] and settings.user_isolation is True and settings.algorithm == "HS256"


def test_an_unknown_algorithm_is_reported_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text("authorization: {algorithm: none}")
    assert [str(p).split(":")[0] for p in caught.value.problems] == ["authorization.algorithm"]


def test_a_misspelt_key_in_the_block_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text("authorization: {user_isolaton: true}")
    assert str(caught.value.problems[0]).startswith("authorization.user_isolaton: unknown field")
