"""A bulk delete names at most 1000 ids, on every backend alike: more is a 422 naming the list
(it was a 503 "database unavailable" past one statement's parameters on SQL, a 204 on Redis)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.runtime.api.harness import Served


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/memories", lambda ids: {"memory_ids": ids}),
        ("/eval-runs", lambda ids: {"eval_run_ids": ids}),
        ("/sessions", lambda ids: {"session_ids": ids, "session_types": ["agent"] * len(ids)}),
    ],
    ids=["memories", "eval-runs", "sessions"],
)
async def test_a_bulk_delete_of_1000_ids_is_done_and_one_of_1001_is_refused_naming_the_list(
    served: Served, path: str, body: Any
) -> None:
    field = next(iter(body([])))
    ids = [f"id-{index:05d}" for index in range(1001)]

    done = await served.client.request("DELETE", path, json=body(ids[:1000]))
    refused = await served.client.request("DELETE", path, json=body(ids))

    assert done.status_code == 204, done.text
    assert refused.status_code == 422
    errors = {tuple(error["loc"]): error["msg"] for error in refused.json()["detail"]}
    assert "at most 1000 items" in errors[("body", field)]
