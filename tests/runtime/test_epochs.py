"""Stored epoch seconds as dates: any value, never an error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from agentos_runtime.api.timestamps import iso_utc
from agentos_runtime.epochs import FIRST_EPOCH, LAST_EPOCH, utc_datetime


def test_a_time_a_date_holds_is_that_date() -> None:
    assert iso_utc(1795489505) == "2026-11-24T03:05:05Z"
    assert utc_datetime(0.5) == datetime(1970, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("epoch", "shown"), [(10**30, LAST_EPOCH), (float("inf"), LAST_EPOCH), (-(10**30), FIRST_EPOCH)]
)
def test_a_time_no_date_holds_is_the_nearest_date(epoch: float, shown: int) -> None:
    assert utc_datetime(epoch) == datetime.fromtimestamp(shown, tz=UTC)


@pytest.mark.parametrize("value", [None, float("nan"), "soon", True, [1], {"at": 1}])
def test_a_value_that_is_no_time_is_none(value: object) -> None:
    assert utc_datetime(value) is None and iso_utc(value) is None


def test_an_integer_past_any_float_is_the_last_date() -> None:
    assert utc_datetime(10**400) == datetime.fromtimestamp(LAST_EPOCH, tz=UTC)
    assert utc_datetime(-(10**400)) == datetime.fromtimestamp(FIRST_EPOCH, tz=UTC)
