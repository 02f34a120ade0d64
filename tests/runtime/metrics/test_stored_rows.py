"""A stored metrics row read back: what other programs may have written is taken, what is no
metrics row is ``DamagedRecord`` naming the row and the column, never quoting the value."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from agentos_runtime.storage.metrics_records import metrics_from_columns
from agentos_runtime.storage.records import DamagedRecord

ROW = {"id": "r1", "date": "2026-03-04", "agent_runs_count": 2, "created_at": 10, "completed": 1}


@pytest.mark.parametrize("count", [2, 2.0, "2"], ids=["an-int", "an-integral-float", "digits-as-text"])
def test_a_count_written_as_a_whole_number_in_any_form_is_read(count: Any) -> None:
    row = metrics_from_columns({**ROW, "agent_runs_count": count})
    assert (row.date, row.agent_runs_count, row.created_at, row.completed) == (date(2026, 3, 4), 2, 10, True)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"date": "m3t"}, "its date is not a day"),
        ({"date": "2026-13-01"}, "its date is not a day"),
        ({"date": 20260304}, "its date is not a day"),
        ({"id": None}, "it has no id"),
        ({"agent_runs_count": "two\x00"}, "its agent_runs_count is not a whole number"),
        ({"agent_runs_count": 2.5}, "its agent_runs_count is not a whole number"),
        ({"agent_runs_count": True}, "its agent_runs_count is not a whole number"),
        ({"created_at": 2**64}, "its created_at is not a whole number"),
        ({"updated_at": "9" * 400}, "its updated_at is not a whole number"),
        ({"users_count": float("nan")}, "its users_count is not a whole number"),
    ],
)
def test_a_row_that_is_no_metrics_row_is_damaged_naming_the_column(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(DamagedRecord) as damaged:
        metrics_from_columns({**ROW, **changes}, record_id="2026-03-04__daily")
    assert (damaged.value.kind, damaged.value.record_id, damaged.value.reason) == (
        "metrics row",
        "2026-03-04__daily",
        reason,
    )
    assert "m3t" not in str(damaged.value) and "two" not in str(damaged.value)
