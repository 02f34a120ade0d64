"""jsontext writes the JSON the standard library writes (compact, UTF-8 readable), faster.

Every value is read back as the standard library's text of it reads back; what orjson refuses
is written by the standard library, to the byte; what is not JSON raises as it did.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import os
import uuid
from typing import Any, NamedTuple

import pytest
from agentos_runtime import jsontext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def standard(value: Any, default: Any = None) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)


TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=20)
SCALARS = st.none() | st.booleans() | st.integers() | TEXT
FLOATS = st.floats(allow_nan=False, allow_infinity=False)


def nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20
    )


FUZZ = settings(
    max_examples=int(os.environ.get("AGENTOS_FUZZ_EXAMPLES", "2000")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(nested(SCALARS))
def test_json_without_floats_is_written_as_the_standard_library_writes_it(value: Any) -> None:
    assert jsontext.dumps(value) == standard(value)


@FUZZ
@given(nested(SCALARS | FLOATS))
def test_any_json_value_reads_back_as_the_standard_librarys_text_of_it(value: Any) -> None:
    text = jsontext.dumps(value)
    assert json.loads(text) == json.loads(standard(value))
    try:
        encoded = standard(value).encode()
    except UnicodeEncodeError:  # a lone surrogate: UTF-8 cannot hold it, as before
        with pytest.raises(UnicodeEncodeError):
            jsontext.dumps_bytes(value)
    else:
        assert json.loads(jsontext.dumps_bytes(value)) == json.loads(encoded)


def test_a_record_is_written_compact_with_its_text_readable() -> None:
    record = {"run_id": "r-1", "content": "café ☕ 😀", "metrics": {"duration": 0.25, "tokens": [1, 2]}, "ok": True}
    assert jsontext.dumps(record) == standard(record)
    assert jsontext.dumps_bytes(record) == standard(record).encode()


@pytest.mark.parametrize(
    "value",
    [
        2**64,  # past 64 bits
        -(2**63) - 1,
        {"n": 10**40},
        {1: "a", None: "b", 2.5: "c"},  # keys that are not strings
        {"text": "a\ud800b"},  # a lone surrogate
        [[[[]]]] * 2 + [json.loads("[" * 300 + "]" * 300)],  # nesting past orjson's 254 levels
    ],
    ids=["past-64-bits", "below-int64", "nested-big-int", "non-string-keys", "lone-surrogate", "deep-nesting"],
)
def test_what_orjson_refuses_is_written_by_the_standard_library_to_the_byte(value: Any) -> None:
    assert jsontext.dumps(value) == standard(value)


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC), datetime.date(2026, 12, 7), Point(1), {1, 2}, object()],
    ids=["datetime", "date", "dataclass", "set", "object"],
)
def test_a_value_that_is_not_json_raises_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        jsontext.dumps({"value": value})
    with pytest.raises(TypeError):
        jsontext.dumps_bytes([value])


@pytest.mark.parametrize(
    "value",
    [datetime.datetime(2026, 12, 7, 5, 30, tzinfo=datetime.UTC), datetime.time(5, 30), Point(1), {1}],
    ids=["datetime", "time", "dataclass", "set"],
)
def test_default_writes_what_is_not_json_as_the_standard_library_does(value: Any) -> None:
    assert jsontext.dumps_bytes({"at": value}, default=str) == standard({"at": value}, default=str).encode()
    assert jsontext.dumps({"at": value}, default=str) == standard({"at": value}, default=str)


def test_an_error_of_default_reaches_the_caller() -> None:
    def refuse(value: Any) -> Any:
        raise ValueError(f"cannot write {type(value).__name__}")

    with pytest.raises(ValueError, match="cannot write object"):
        jsontext.dumps_bytes({"a": object()}, default=refuse)


def test_nan_and_the_infinities_are_written_as_null_not_as_text_json_has_not() -> None:
    text = jsontext.dumps({"a": math.nan, "b": [math.inf, -math.inf], "c": 1.5})
    assert json.loads(text) == {"a": None, "b": [None, None], "c": 1.5}
    assert "NaN" not in text and "Infinity" not in text


class Colour(enum.Enum):
    RED = "red"


def test_a_uuid_and_an_enum_member_are_written_as_their_values() -> None:
    run_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert json.loads(jsontext.dumps({"id": run_id, "colour": Colour.RED})) == {"id": str(run_id), "colour": "red"}


class Ratio(float):
    """A float subclass, as numpy's ``float64`` is."""


class Pair(NamedTuple):
    left: int
    right: float


@pytest.mark.parametrize(
    "value",
    [Ratio(1.5), Pair(1, 2.5), [Ratio(0.1), (Pair(3, 4.0),)]],
    ids=["float-subclass", "named-tuple", "nested"],
)
def test_subclasses_of_float_and_tuple_are_written_as_numbers_and_arrays_with_or_without_default(value: Any) -> None:
    assert jsontext.dumps({"v": value}) == standard({"v": value})
    assert jsontext.dumps_bytes({"v": value}, default=str) == standard({"v": value}, default=str).encode()


def test_nan_is_null_also_in_a_value_the_standard_library_writes() -> None:
    value = {"big": 2**70, "nan": math.nan, "nested": [{"inf": -math.inf}], "pair": Pair(1, math.inf)}

    assert json.loads(jsontext.dumps(value)) == {
        "big": 2**70,
        "nan": None,
        "nested": [{"inf": None}],
        "pair": [1, None],
    }


def test_a_cycle_raises_the_standard_librarys_error() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)

    with pytest.raises(ValueError, match="Circular reference"):
        jsontext.dumps(cycle)
