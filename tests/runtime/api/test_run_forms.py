"""Decoding a run form's extra fields: JSON strings, scalar flags, and 400s naming the field."""

from __future__ import annotations

import pytest
from agentos_runtime.api.routes.run_forms import decode_extras
from agentos_runtime.errors import BadRequest


def test_declared_fields_are_left_to_the_route() -> None:
    assert decode_extras([("message", "hi"), ("stream", "true"), ("session_id", "s")]) == {}


def test_json_fields_are_decoded() -> None:
    extras = decode_extras([("session_state", '{"a": 1}'), ("metadata", '{"k": "v"}'), ("images", "[]")])
    assert extras == {"session_state": {"a": 1}, "metadata": {"k": "v"}, "images": []}


def test_scalar_flags_become_booleans_and_none() -> None:
    extras = decode_extras([("add_history_to_context", "false"), ("stream_events", "True"), ("x", "null")])
    assert extras == {"add_history_to_context": False, "stream_events": True, "x": None}


def test_other_scalars_stay_text() -> None:
    assert decode_extras([("label", "falsey"), ("n", "3")]) == {"label": "falsey", "n": "3"}


def test_an_empty_json_field_means_not_given() -> None:
    assert decode_extras([("session_state", "")]) == {"session_state": None}


@pytest.mark.parametrize("field", ["session_state", "metadata", "dependencies", "knowledge_filters", "images"])
def test_invalid_json_is_a_bad_request_naming_the_field(field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_extras([(field, "{not json")])
    assert caught.value.status_code == 400
    assert caught.value.detail.startswith(f"Invalid {field} parameter: not valid JSON")


def test_an_object_field_holding_a_list_is_a_bad_request() -> None:
    with pytest.raises(BadRequest) as caught:
        decode_extras([("metadata", "[1, 2]")])
    assert caught.value.detail == "Invalid metadata parameter: expected a JSON object"
