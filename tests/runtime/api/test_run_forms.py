"""Decoding a run form's extra fields: JSON strings, scalar flags, and 400s naming the field."""

from __future__ import annotations

import json

import pytest
from agentos_runtime.api.routes.run_forms import decode_extras, run_request
from agentos_runtime.errors import BadRequest
from fastapi.exceptions import RequestValidationError


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


@pytest.mark.parametrize("field", ["images", "audio", "videos", "input_files", "output_schema"])
def test_inputs_the_engine_cannot_honour_are_refused_not_dropped(field: str) -> None:
    value = '{"type": "object"}' if field == "output_schema" else '[{"url": "https://example.com/a.png"}]'
    with pytest.raises(BadRequest) as caught:
        run_request(message="hi", session_id=None, user_id=None, extras=decode_extras([(field, value)]))
    assert caught.value.detail == f"Unsupported {field} parameter: this runtime does not accept it yet"


def test_empty_media_lists_are_accepted_as_nothing_sent() -> None:
    request = run_request(message="hi", session_id=None, user_id=None, extras=decode_extras([("images", "[]")]))
    assert request.message == "hi"


def test_a_run_request_gets_a_new_uuid4_session_when_none_is_given() -> None:
    import uuid

    first = run_request(message="hi", session_id="", user_id="", extras={})
    second = run_request(message="hi", session_id=None, user_id=None, extras={})
    assert uuid.UUID(first.session_id).version == 4 and first.session_id != second.session_id
    assert first.user_id is None


def test_history_overrides_are_checked() -> None:
    extras = decode_extras([("add_history_to_context", "true"), ("num_history_runs", "5")])
    request = run_request(message="hi", session_id="s", user_id="u", extras=extras)
    assert (request.add_history_to_context, request.num_history_runs) == (True, 5)
    for bad in ([("add_history_to_context", "sometimes")], [("num_history_runs", "0")], [("num_history_runs", "x")]):
        with pytest.raises(BadRequest):
            run_request(message="hi", session_id="s", user_id=None, extras=decode_extras(bad))


def test_session_state_and_metadata_pass_through() -> None:
    extras = decode_extras([("session_state", '{"a": 1}'), ("metadata", '{"k": "v"}')])
    request = run_request(message="hi", session_id="s", user_id=None, extras=extras)
    assert request.session_state == {"a": 1} and request.metadata == {"k": "v"}


@pytest.mark.parametrize(
    "flag", ["add_history_to_context", "add_session_state_to_context", "add_dependencies_to_context"]
)
def test_context_flags_reach_the_run_and_anything_but_a_boolean_is_a_bad_request(flag: str) -> None:
    on = run_request(message="hi", session_id=None, user_id=None, extras=decode_extras([(flag, "true")]))
    assert getattr(on, flag) is True
    with pytest.raises(BadRequest) as caught:
        run_request(message="hi", session_id=None, user_id=None, extras=decode_extras([(flag, "yes")]))
    assert caught.value.detail == f"Invalid {flag} parameter: expected true or false"


def test_dependencies_reach_the_run_for_its_placeholders() -> None:
    extras = decode_extras([("dependencies", '{"tone": "dry"}')])
    request = run_request(message="hi", session_id=None, user_id=None, extras=extras)
    assert request.dependencies == {"tone": "dry"}


def run_with_filters(text: str) -> dict[str, object] | None:
    extras = decode_extras([("knowledge_filters", text)])
    return run_request(message="hi", session_id="s", user_id=None, extras=extras).knowledge_filters


def test_knowledge_filters_of_metadata_values_reach_the_run() -> None:
    assert run_with_filters('{"department": "hr", "year": 2026}') == {"department": "hr", "year": 2026}
    assert run_with_filters("{}") is None and run_with_filters("") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"op": "EQ", "key": "department", "value": "hr"}', "Unsupported knowledge_filters parameter"),
        ('[{"op": "EQ", "key": "department", "value": "hr"}]', "Unsupported knowledge_filters parameter"),
        ('"hr"', "Invalid knowledge_filters parameter"),
    ],
)
def test_knowledge_filters_the_search_cannot_apply_are_refused_naming_the_field(text: str, problem: str) -> None:
    with pytest.raises(BadRequest, match=problem):
        run_with_filters(text)


def test_knowledge_filters_are_bounded_as_the_search_apis_filters_are() -> None:
    with pytest.raises(RequestValidationError) as refused:
        run_with_filters(json.dumps({f"k{i}": i for i in range(101)}))

    assert refused.value.errors()[0]["loc"] == ("body", "knowledge_filters")
