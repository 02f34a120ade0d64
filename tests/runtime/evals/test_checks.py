"""What makes an evaluation refused before it runs (``check_spec``), decided on the spec alone."""

from __future__ import annotations

import pytest
from agentos_runtime.errors import BadRequest
from agentos_runtime.evals.running import check_spec
from agentos_runtime.evals.specs import MAX_REPEATED_TEXT, EvalSpec


def test_an_accuracy_eval_repeating_exactly_the_bound_may_run() -> None:
    spec = EvalSpec(eval_type="accuracy", input="q" * 150_000, expected_output="a" * 10_000, num_iterations=100)

    check_spec(spec)

    assert spec.num_iterations * (150_000 + 10_000) == MAX_REPEATED_TEXT


def test_one_character_more_is_refused_naming_the_fields_to_change() -> None:
    spec = EvalSpec(eval_type="accuracy", input="q" * 150_001, expected_output="a" * 10_000, num_iterations=100)

    with pytest.raises(BadRequest, match="lower num_iterations or shorten them"):
        check_spec(spec)


def test_a_large_input_evaluated_once_may_run() -> None:
    check_spec(EvalSpec(eval_type="accuracy", input="q" * 8_000_000, expected_output="a", num_iterations=1))
