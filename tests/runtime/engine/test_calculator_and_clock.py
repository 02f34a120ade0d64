"""The ``calculator`` and ``current_time`` built-ins."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from agentos_runtime.tools.calculator import CalculationError, build_calculator, evaluate
from agentos_runtime.tools.clock import build_current_time


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("2 ** 10", 1024),
        ("-3 + 5", 2),
        ("-(2 ** 3)", -8),
        ("1.5 * 2", 3.0),
        ("((1 + 2) * (3 - 4)) / -3", 1.0),
        ("1" + " + 1" * 150, 151),
        ("-" * 150 + "1", 1),
        ("2 ** -2", 0.25),
    ],
)
def test_calculator_evaluates_arithmetic(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('true')", "is not allowed"),
        ("abs(-1)", "is not allowed"),
        ("x + 1", "is not allowed"),
        ("'a' * 3", "only numbers"),
        ("True + 1", "only numbers"),
        ("[1, 2]", "is not allowed"),
        ("1 if 2 else 3", "is not allowed"),
        ("+3", "is not allowed"),
        ("2 < 3", "is not allowed"),
        ("1j * 2", "only numbers"),
        ("2 ** 100000", "exponents are limited"),
        ("9 ** 9 ** 9", "exponents are limited"),
        ("(2 ** 1000) ** 5", "too large"),
        ("10 ** 1000 * 10 ** 1000 * 10 ** 1000", "too large"),
        ("1e308 * 10", "too large"),
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("2 +", "not an arithmetic expression"),
        ("1 + " * 400 + "1", "longer than"),
        ("-" * 998 + "1", "nested more than 600 levels deep"),
        ("~" + "-" * 700 + "1", "nested more than 600 levels deep"),
        ("(" * 150 + "-" * 600 + "1" + ")" * 150, "not an arithmetic expression|nested more than"),
    ],
)
def test_calculator_rejects_anything_but_bounded_arithmetic(expression: str, reason: str) -> None:
    with pytest.raises(CalculationError, match=reason):
        evaluate(expression)


def test_the_longest_sum_the_length_limit_allows_is_still_calculated() -> None:
    assert evaluate("1+" * 499 + "1") == 500


async def test_calculator_tool_answers_text() -> None:
    tool = build_calculator()

    assert await tool.call({"expression": "6 * 7"}) == "42"
    assert tool.schema()["function"]["parameters"]["required"] == ["expression"]


PINNED = datetime(2026, 3, 1, 12, 30, 0, tzinfo=UTC)


async def test_current_time_is_utc_iso_by_default() -> None:
    tool = build_current_time(clock=lambda: PINNED)

    assert await tool.call({}) == "2026-03-01T12:30:00+00:00"


async def test_current_time_converts_to_a_named_time_zone() -> None:
    tool = build_current_time(clock=lambda: PINNED)

    assert await tool.call({"timezone": "Asia/Kolkata"}) == "2026-03-01T18:00:00+05:30"


async def test_current_time_rejects_an_unknown_time_zone() -> None:
    tool = build_current_time(clock=lambda: PINNED)

    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        await tool.call({"timezone": "Mars/Olympus"})


async def test_current_time_reads_the_real_clock() -> None:
    answer = datetime.fromisoformat(await build_current_time().call({}))

    assert abs((datetime.now(UTC) - answer).total_seconds()) < 5
