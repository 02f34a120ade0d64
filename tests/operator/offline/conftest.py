"""Fixtures of the offline contract tests."""

import pytest

from tests.operator.offline.inputs import EXAMPLE_NAMES


@pytest.fixture(params=EXAMPLE_NAMES)
def example_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)
