"""Whether a value read back from a backend is the JSON value a write stored (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from agentos_runtime.storage.records import copy_json, stored_as


@pytest.mark.parametrize(
    ("stored", "value"),
    [
        ({"a": [1, "x", None, True]}, {"a": [1, "x", None, True]}),
        ({"amount": 100000000000000000000000}, {"amount": 1e23}),  # PostgreSQL jsonb's spelling
        ([{"n": 1000000000000000000000}], [{"n": 1e21}]),
        ({"t": [1, 2]}, {"t": (1, 2)}),  # a tuple is stored as a list
    ],
)
def test_a_value_read_back_as_its_backend_stores_it_is_the_value_stored(stored: Any, value: Any) -> None:
    assert stored_as(stored, value)


@pytest.mark.parametrize(
    ("stored", "value"),
    [
        ({"amount": 100000000000000000000001}, {"amount": 1e23}),  # another integer than the float
        ({"amount": 1}, {"amount": 1.5}),
        ({"flag": True}, {"flag": 1.0}),  # a boolean is not the number one
        ({"a": 1, "b": 2}, {"a": 1}),
        ([1, 2], [1, 2, 3]),
        ({"a": "1"}, {"a": 1}),
        ({"a": 10**400}, {"a": 1e308}),  # an integer past any float is none of them
        ({"a": 1}, {"a": object()}),  # not JSON: never what was stored
    ],
)
def test_a_value_stored_otherwise_is_not_the_value_stored(stored: Any, value: Any) -> None:
    assert not stored_as(stored, value)


def test_values_nested_deeper_than_a_comparison_goes_are_not_told_the_same() -> None:
    deep: Any = 1.0
    stored: Any = 1
    for _ in range(100_000):
        deep, stored = [deep], [stored]
    assert not stored_as(stored, deep)


def test_text_with_a_lone_surrogate_is_copied_and_read_back_as_itself() -> None:
    # The in-memory store keeps such text (a tool's session_state is not cleaned): as it always did.
    value = {"note": "a\ud800b", "items": ["\udfff"]}

    assert copy_json(value) == value
    assert stored_as(value, value)
