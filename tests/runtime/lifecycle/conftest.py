"""Fixtures of the lifecycle tests: each test runs once per kind of run (agent, team, workflow)."""

from __future__ import annotations

import pytest

from tests.runtime.lifecycle.kinds import KINDS, Kind


@pytest.fixture(params=KINDS, ids=str)
def kind(request: pytest.FixtureRequest) -> Kind:
    chosen: Kind = request.param
    return chosen
