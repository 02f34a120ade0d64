"""The run form of ``POST /agents/{id}/runs``, read as AgentOS reads it.

The declared fields (``message`` required, ``stream`` default true, ``session_id``,
``user_id``, ``background`` default false) are validated here rather than by FastAPI's form machinery, which costs more
than the rest of the route; a missing or invalid field still answers FastAPI's 422 list
(``loc`` ``["body", "message"]``), and an empty value counts as absent, as in FastAPI.
Besides those, a run form may carry any keyword of Agno's ``Agent.arun``: JSON strings
(``session_state``, ``metadata``, ``dependencies``, media lists) and scalar flags
(``"true"``/``"false"``, ``"null"``). Unlike AgentOS, which logs and drops a field that is
not valid JSON, a bad field here is a 400 naming it: a run must not silently start without
the state it was given.

Everything a run stores is checked here, before the run starts and so before any model is
called (``text_checks``): no NUL or lone surrogate in the message, ids or any JSON field, JSON
nested at most ``MAX_JSON_DEPTH`` levels, ids at most ``MAX_ID_LENGTH`` characters, and
``num_history_runs`` at most ``MAX_HISTORY_RUNS``.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from agentos_runtime.api.routes.knowledge_schemas import check_filter_terms, check_integers
from agentos_runtime.api.text_checks import check_form_json, check_text
from agentos_runtime.errors import BadRequest
from agentos_runtime.runs import RunRequest
from agentos_runtime.runs.requests import RunOptions

# More runs than any context window holds; a bound keeps the history read small on every backend.
MAX_HISTORY_RUNS = 1000
# Form fields as large as the whole body limit (``LimitBodySize`` answers 413 past it), instead
# of the form parser's own 1 MiB limit per field, which answered 400.
MAX_FIELD_BYTES = 1 << 62


class RunFormFields(BaseModel):
    """The declared fields of a run form."""

    message: str = Field(description="What to ask the agent.")
    stream: bool = Field(default=True, description="Stream the run's events as server-sent events.")
    session_id: str | None = Field(default=None, description="Session to continue; a new one when empty.")
    user_id: str | None = Field(default=None, description="The user the run is for.")
    background: bool = Field(
        default=False,
        description=(
            "Run in the background: answered 202 at once (poll the run), or with stream=true a stream "
            "that a client may leave and resume (POST .../runs/{run_id}/resume)."
        ),
    )


_FIELD_NAMES = tuple(RunFormFields.model_fields)


def read_fields(form: Mapping[str, Any]) -> RunFormFields:
    """The declared fields; raises ``RequestValidationError`` (422) as FastAPI would."""
    given = {name: form[name] for name in _FIELD_NAMES if isinstance(form.get(name), str) and form[name] != ""}
    try:
        fields = RunFormFields.model_validate(given)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from error
    check_text(("body", "message"), fields.message)
    check_text(("body", "session_id"), fields.session_id, is_id=True)
    check_text(("body", "user_id"), fields.user_id, is_id=True)
    return fields


DECLARED_FIELDS = frozenset(
    {"message", "stream", "session_id", "user_id", "files", "files_metadata", "version", "background", "factory_input"}
)
OBJECT_FIELDS = frozenset({"session_state", "dependencies", "metadata"})
JSON_FIELDS = OBJECT_FIELDS | {"knowledge_filters", "output_schema", "images", "audio", "videos", "input_files"}
UNSUPPORTED_FIELDS = ("images", "audio", "videos", "input_files", "output_schema")
_SCALARS: dict[str, Any] = {"true": True, "false": False, "null": None, "none": None}


def decode_extras(fields: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Every undeclared field, decoded; raises ``BadRequest`` naming a field that is not valid."""
    extras: dict[str, Any] = {}
    for key, value in fields:
        if key in DECLARED_FIELDS:
            continue
        if not isinstance(value, str):
            raise BadRequest(f"Invalid {key} parameter: a file was sent where a value was expected")
        extras[key] = decode_json_field(key, value) if key in JSON_FIELDS else decode_scalar(value)
        check_form_json(key, extras[key])
    return extras


def decode_json_field(key: str, text: str) -> Any:
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(f"Invalid {key} parameter: not valid JSON ({error.msg} at position {error.pos})") from error
    except RecursionError:
        raise BadRequest(f"Invalid {key} parameter: JSON nested too deeply") from None
    except ValueError:  # Python's bound on the digits of an integer it reads
        limit = sys.get_int_max_str_digits()
        raise BadRequest(f"Invalid {key} parameter: a number in it has more than {limit} digits") from None
    if key in OBJECT_FIELDS and value is not None and not isinstance(value, dict):
        raise BadRequest(f"Invalid {key} parameter: expected a JSON object")
    return value


def decode_scalar(text: str) -> Any:
    """``"true"``/``"false"`` as booleans, ``"null"``/``"none"`` as ``None``, anything else as text."""
    return _SCALARS.get(text.lower(), text)


def run_request(*, message: str, session_id: str | None, user_id: str | None, extras: Mapping[str, Any]) -> RunRequest:
    """The engine's request for one run: a new session when none is named, overrides checked.

    Inputs the engine cannot honour yet (media, a structured output schema) are refused with
    400 rather than dropped, so a caller never gets an answer to a different question.
    """
    for key in UNSUPPORTED_FIELDS:
        if extras.get(key):
            raise BadRequest(f"Unsupported {key} parameter: this runtime does not accept it yet")
    return RunRequest(
        message=message,
        session_id=session_id or str(uuid.uuid4()),
        user_id=user_id or None,
        session_state=extras.get("session_state"),
        metadata=extras.get("metadata"),
        dependencies=extras.get("dependencies"),
        add_history_to_context=_flag("add_history_to_context", extras),
        add_session_state_to_context=_flag("add_session_state_to_context", extras),
        add_dependencies_to_context=_flag("add_dependencies_to_context", extras),
        knowledge_filters=knowledge_filters(extras.get("knowledge_filters")),
        num_history_runs=_positive_int("num_history_runs", extras.get("num_history_runs"), maximum=MAX_HISTORY_RUNS),
    )


def run_options(
    *,
    dependencies: str | None,
    metadata: str | None,
    knowledge_filters_text: str | None,
    add_dependencies_to_context: str | None,
    add_session_state_to_context: str | None,
) -> RunOptions:
    """What a continue sends again for the rest of a paused run, checked as a run form's fields
    are; raises ``BadRequest`` naming a field that is not valid."""
    texts = {
        "dependencies": dependencies,
        "metadata": metadata,
        "knowledge_filters": knowledge_filters_text,
        "add_dependencies_to_context": add_dependencies_to_context,
        "add_session_state_to_context": add_session_state_to_context,
    }
    extras = decode_extras((key, text) for key, text in texts.items() if text is not None)
    return RunOptions(
        dependencies=extras.get("dependencies"),
        metadata=extras.get("metadata"),
        knowledge_filters=knowledge_filters(extras.get("knowledge_filters")),
        add_dependencies_to_context=_flag("add_dependencies_to_context", extras),
        add_session_state_to_context=_flag("add_session_state_to_context", extras),
    )


def knowledge_filters(value: Any) -> dict[str, Any] | None:
    """The run's knowledge filters: a JSON object of metadata values every chunk a search finds
    must have (checked as the knowledge search API checks its ``filters``). Agno's filter
    expressions (objects with ``op``, lists of them) are refused: this runtime's knowledge
    bases match metadata values only, and a search must not quietly ignore a filter."""
    if value is None or value == {}:
        return None
    if isinstance(value, list) or (isinstance(value, dict) and "op" in value):
        raise BadRequest(
            "Unsupported knowledge_filters parameter: filter expressions are not supported by this runtime yet; "
            'send a JSON object of metadata values, e.g. {"category": "billing"}'
        )
    if not isinstance(value, dict):
        raise BadRequest("Invalid knowledge_filters parameter: expected a JSON object of metadata values")
    check_integers(("body", "knowledge_filters"), value)
    check_filter_terms(("body", "knowledge_filters"), value)
    return value


def _flag(key: str, extras: Mapping[str, Any]) -> bool | None:
    value = extras.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"Invalid {key} parameter: expected true or false")
    return value


def _positive_int(key: str, value: Any, *, maximum: int) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid {key} parameter: expected a whole number") from None
    if number < 1:
        raise BadRequest(f"Invalid {key} parameter: expected at least 1")
    if number > maximum:
        raise BadRequest(f"Invalid {key} parameter: expected at most {maximum}")
    return number
