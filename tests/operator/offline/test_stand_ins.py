"""Stand-ins for required fields left out: only values the resource's schema surely accepts."""

from agentos_operator.resources import validate_resource
from agentos_operator.stand_ins import STAND_IN_TEXT, schema_at, stand_in, stand_in_of

from tests.operator.offline.inputs import resource_body


def test_a_step_name_gets_text_its_schema_accepts_and_the_step_is_then_valid() -> None:
    assert stand_in(("spec", "workflows", 0, "steps", 0, "name")) == (STAND_IN_TEXT,)
    spec = {
        "models": [{"id": "gpt", "apiKeySecretRef": {"name": "openai", "key": "key"}}],
        "agents": [{"id": "a"}],
        "workflows": [{"id": "w", "steps": [{"agent": "a", "name": STAND_IN_TEXT}]}],
    }
    assert validate_resource(resource_body(spec)) == []


def test_a_field_with_a_pattern_or_required_fields_or_no_schema_gets_none() -> None:
    assert stand_in(("spec", "agents", 0, "id")) is None  # a pattern
    assert stand_in(("spec", "models", 0, "apiKeySecretRef")) is None  # an object with required fields
    assert stand_in(("spec", "jwtVerificationKeySecretRef")) is None
    assert stand_in(("spec", "nothing", "here")) is None
    assert schema_at({"type": "object"}, ("spec",)) is None


def test_each_kind_of_plain_value_gets_one_within_its_bounds() -> None:
    assert stand_in_of({"type": "string", "minLength": 12}) == (STAND_IN_TEXT.ljust(12, "-"),)
    assert stand_in_of({"type": "string", "minLength": 2, "maxLength": 3}) == ("xx",)
    assert stand_in_of({"type": "string", "format": "uri"}) is None
    assert stand_in_of({"type": "string", "enum": ["route", "coordinate"]}) == ("route",)
    assert stand_in_of({"type": "integer", "minimum": 3, "maximum": 9}) == (3,)
    assert stand_in_of({"type": "integer", "minimum": 3, "maximum": 2}) is None
    assert stand_in_of({"type": "boolean"}) == (False,)
    assert stand_in_of({"type": "array", "minItems": 1}) is None
    assert stand_in_of({"type": "array"}) == ([],)
    assert stand_in_of({"type": "object", "required": ["name"]}) is None
