"""The session store contract, run identically on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from agentos_runtime.errors import BadRequest, Conflict
from agentos_runtime.storage.ports import Database, RecentRuns, SessionChanges, SessionQuery, SessionRow

from tests.support.databases import BACKENDS, fresh_database


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(request.param, tmp_path) as database:
        yield database


def session(session_id: str, **fields: object) -> SessionRow:
    values: dict[str, object] = {"session_type": "agent", "created_at": 1_000, "agent_id": "assistant"}
    values.update(fields)
    return SessionRow(session_id=session_id, **values)  # type: ignore[arg-type]


def run(run_id: str, **fields: object) -> dict[str, object]:
    return {"run_id": run_id, "agent_id": "assistant", "status": "COMPLETED", "created_at": 1_000, **fields}


async def test_upserted_session_reads_back_with_every_column_and_its_runs(db: Database) -> None:
    row = SessionRow(
        session_id="s1",
        session_type="team",
        created_at=1_700_000_000,
        updated_at=1_700_000_100,
        team_id="crew",
        user_id="ana",
        session_data={"session_name": "Plans", "session_state": {"step": 2}},
        team_data={"name": "Crew"},
        metadata={"source": "test"},
        summary={"summary": "talked"},
        runs=[run("r1", team_id="crew", agent_id=None), run("r2", team_id="crew", agent_id=None)],
    )
    written = await db.sessions.upsert_session(row)

    assert written == row
    assert await db.sessions.get_session("s1") == row


async def test_get_session_filters_by_session_type_and_user_id(db: Database) -> None:
    await db.sessions.upsert_session(session("s1", user_id="ana"))

    assert await db.sessions.get_session("s1", session_type="agent", user_id="ana") is not None
    assert await db.sessions.get_session("s1", session_type="team") is None
    assert await db.sessions.get_session("s1", user_id="bob") is None
    assert await db.sessions.get_session("missing") is None


async def test_list_sessions_filters_by_type_user_and_component(db: Database) -> None:
    await db.sessions.upsert_session(session("a1", user_id="ana", agent_id="helper"))
    await db.sessions.upsert_session(session("a2", user_id="bob", agent_id="helper"))
    await db.sessions.upsert_session(session("t1", user_id="ana", session_type="team", agent_id=None, team_id="helper"))
    await db.sessions.upsert_session(session("w1", session_type="workflow", agent_id=None, workflow_id="flow"))

    async def ids(query: SessionQuery) -> list[str]:
        return sorted(row.session_id for row in (await db.sessions.list_sessions(query)).items)

    assert await ids(SessionQuery()) == ["a1", "a2", "t1", "w1"]
    assert await ids(SessionQuery(session_type="agent")) == ["a1", "a2"]
    assert await ids(SessionQuery(user_id="ana")) == ["a1", "t1"]
    assert await ids(SessionQuery(component_id="helper")) == ["a1", "a2", "t1"]
    assert await ids(SessionQuery(session_type="team", component_id="helper")) == ["t1"]
    assert await ids(SessionQuery(session_type="workflow", component_id="helper")) == []
    assert await ids(SessionQuery(session_type="agent", component_id="helper", user_id="bob")) == ["a2"]


async def test_session_name_filter_matches_part_of_the_name_in_session_data_ignoring_case(db: Database) -> None:
    await db.sessions.upsert_session(session("s1", session_data={"session_name": "Trip to Lisbon"}))
    await db.sessions.upsert_session(session("s2", session_data={"session_name": "Budget 100%_done"}))
    await db.sessions.upsert_session(session("s3", session_data={"session_state": {"session_name": "Lisbon"}}))
    await db.sessions.upsert_session(session("s4"))

    async def named(name: str) -> list[str]:
        page = await db.sessions.list_sessions(SessionQuery(session_name=name))
        return sorted(row.session_id for row in page.items)

    assert await named("lisbon") == ["s1"]
    assert await named("TRIP TO") == ["s1"]
    assert await named("100%_") == ["s2"]
    assert await named("%") == ["s2"]
    assert await named("nowhere") == []


async def test_the_session_name_filter_ignores_the_case_of_letters_beyond_ascii_on_every_backend(db: Database) -> None:
    await db.sessions.upsert_session(session("s1", session_data={"session_name": "Élan à ZÜRICH"}))
    await db.sessions.upsert_session(session("s2", session_data={"session_name": "Москва"}))

    async def named(name: str) -> list[str]:
        return [row.session_id for row in (await db.sessions.list_sessions(SessionQuery(session_name=name))).items]

    assert await named("élan") == ["s1"]
    assert await named("zürich") == ["s1"]
    assert await named("МОСК") == ["s2"]


async def test_list_sessions_sorts_and_pages_with_the_total_of_all_matches(db: Database) -> None:
    for index in range(5):
        await db.sessions.upsert_session(session(f"s{index}", created_at=1_000 + index, updated_at=5_000 - index))

    newest = await db.sessions.list_sessions(SessionQuery(limit=2, page=1))
    second = await db.sessions.list_sessions(SessionQuery(limit=2, page=2))
    last = await db.sessions.list_sessions(SessionQuery(limit=2, page=3))
    beyond = await db.sessions.list_sessions(SessionQuery(limit=2, page=4))
    by_update = await db.sessions.list_sessions(SessionQuery(sort_by="updated_at", sort_order="asc", limit=3))

    assert [row.session_id for row in newest.items] == ["s4", "s3"]
    assert [row.session_id for row in second.items] == ["s2", "s1"]
    assert [row.session_id for row in last.items] == ["s0"]
    assert beyond.items == []
    assert {newest.total, second.total, last.total, beyond.total} == {5}
    assert [row.session_id for row in by_update.items] == ["s4", "s3", "s2"]


async def test_sorting_by_updated_at_falls_back_to_created_at_when_never_updated(db: Database) -> None:
    await db.sessions.upsert_session(session("old", created_at=100, updated_at=400))
    await db.sessions.upsert_session(session("fresh", created_at=300, updated_at=300))
    await db.sessions.upsert_session(session("mid", created_at=200, updated_at=200))

    page = await db.sessions.list_sessions(SessionQuery(sort_by="updated_at", sort_order="desc"))

    assert [row.session_id for row in page.items] == ["old", "fresh", "mid"]


async def test_unknown_sort_field_sorts_by_created_at(db: Database) -> None:
    await db.sessions.upsert_session(session("b", created_at=2))
    await db.sessions.upsert_session(session("a", created_at=1))

    page = await db.sessions.list_sessions(SessionQuery(sort_by="session_name; DROP TABLE", sort_order="asc"))

    assert [row.session_id for row in page.items] == ["a", "b"]


async def test_sorting_by_a_text_column_puts_missing_values_last(db: Database) -> None:
    await db.sessions.upsert_session(session("s1", user_id="bob"))
    await db.sessions.upsert_session(session("s2"))
    await db.sessions.upsert_session(session("s3", user_id="ana"))

    ascending = await db.sessions.list_sessions(SessionQuery(sort_by="user_id", sort_order="asc"))
    descending = await db.sessions.list_sessions(SessionQuery(sort_by="user_id", sort_order="desc"))

    assert [row.session_id for row in ascending.items] == ["s3", "s1", "s2"]
    assert [row.session_id for row in descending.items] == ["s1", "s3", "s2"]


async def test_listing_includes_runs_unless_asked_not_to(db: Database) -> None:
    await db.sessions.upsert_session(session("s1", runs=[run("r1"), run("r2")]))

    with_runs = await db.sessions.list_sessions(SessionQuery())
    without_runs = await db.sessions.list_sessions(SessionQuery(include_runs=False))

    assert [r["run_id"] for r in with_runs.items[0].runs or []] == ["r1", "r2"]
    assert without_runs.items[0].runs is None
    assert without_runs.total == 1


@pytest.mark.parametrize("query", [SessionQuery(page=0), SessionQuery(limit=0)])
async def test_a_page_or_limit_below_one_is_a_bad_request(db: Database, query: SessionQuery) -> None:
    with pytest.raises(BadRequest):
        await db.sessions.list_sessions(query)


async def test_update_session_sets_name_state_metadata_and_summary_and_keeps_runs(db: Database) -> None:
    await db.sessions.upsert_session(
        session("s1", session_data={"session_name": "Old", "session_metrics": {"tokens": 3}}, runs=[run("r1")])
    )

    changes = SessionChanges(
        session_name="New", session_state={"cart": []}, metadata={"tag": "x"}, summary={"summary": "s"}
    )
    updated = await db.sessions.update_session("s1", changes)

    assert updated is not None
    assert updated.session_data == {
        "session_name": "New",
        "session_metrics": {"tokens": 3},
        "session_state": {"cart": []},
    }
    assert (updated.metadata, updated.summary) == ({"tag": "x"}, {"summary": "s"})
    assert updated.updated_at is not None and updated.updated_at > 1_000
    assert [r["run_id"] for r in updated.runs or []] == ["r1"]
    assert await db.sessions.get_session("s1") == updated


async def test_update_session_leaves_unnamed_fields_as_they_are(db: Database) -> None:
    await db.sessions.upsert_session(session("s1", session_data={"session_name": "Keep"}, metadata={"m": 1}))

    updated = await db.sessions.update_session("s1", SessionChanges(summary={"summary": "only this"}))

    assert updated is not None
    assert (updated.session_data, updated.metadata) == ({"session_name": "Keep"}, {"m": 1})


async def test_update_session_of_another_user_or_a_missing_one_returns_none(db: Database) -> None:
    await db.sessions.upsert_session(session("s1", user_id="ana", session_data={"session_name": "Mine"}))

    assert await db.sessions.update_session("s1", SessionChanges(session_name="Hacked"), user_id="bob") is None
    assert await db.sessions.update_session("missing", SessionChanges(session_name="x")) is None
    stored = await db.sessions.get_session("s1")
    assert stored is not None and stored.session_data == {"session_name": "Mine"}


async def test_a_run_saved_into_another_users_session_is_refused_and_writes_nothing(db: Database) -> None:
    # Two runs each found no session "s1" when they began, and ana's was saved first.
    await db.sessions.save_run(session("s1", user_id="ana"), run("r1"), session_state={"ana": "private"})

    with pytest.raises(Conflict, match="session 's1' belongs to another user"):
        await db.sessions.save_run(session("s1", user_id="bob"), run("r2"), session_state={"bob": "x"})

    stored = await db.sessions.get_session("s1")
    assert stored is not None and stored.user_id == "ana"
    assert [r["run_id"] for r in stored.runs or []] == ["r1"]
    assert (stored.session_data or {}).get("session_state") == {"ana": "private"}


async def test_create_session_writes_a_new_session_without_runs_and_refuses_a_taken_id(db: Database) -> None:
    created = await db.sessions.create_session(session("s1", user_id="ana", session_data={"session_name": "Mine"}))
    await db.sessions.save_run(session("s1", user_id="ana"), run("r1"), session_state=None)

    again = await db.sessions.create_session(session("s1", user_id="bob", session_data={"session_name": "His"}))

    assert created is not None and created.user_id == "ana" and created.runs == []
    assert again is None
    stored = await db.sessions.get_session("s1")
    assert stored is not None and stored.user_id == "ana"
    assert stored.session_data == {"session_name": "Mine"}
    assert [r["run_id"] for r in stored.runs or []] == ["r1"]


async def test_of_creations_of_one_session_id_at_the_same_instant_exactly_one_writes(db: Database) -> None:
    users = [f"user-{index}" for index in range(6)]

    created = await asyncio.gather(*(db.sessions.create_session(session("s1", user_id=user)) for user in users))

    winners = [row for row in created if row is not None]
    assert len(winners) == 1
    stored = await db.sessions.get_session("s1")
    assert stored is not None and stored.user_id == winners[0].user_id


async def test_a_run_of_the_same_user_or_naming_none_continues_the_session(db: Database) -> None:
    await db.sessions.save_run(session("s1", user_id="ana"), run("r1"), session_state=None)
    await db.sessions.save_run(session("s1", user_id="ana"), run("r2"), session_state=None)
    await db.sessions.save_run(session("s1"), run("r3"), session_state=None)

    stored = await db.sessions.get_session("s1")
    assert stored is not None and stored.user_id == "ana"
    assert [r["run_id"] for r in stored.runs or []] == ["r1", "r2", "r3"]


async def test_delete_sessions_deletes_only_the_users_sessions_with_their_runs(db: Database) -> None:
    await db.sessions.upsert_session(session("s1", user_id="ana", runs=[run("r1")]))
    await db.sessions.upsert_session(session("s2", user_id="bob", runs=[run("r2")]))
    await db.sessions.upsert_session(session("s3", user_id="ana"))

    assert await db.sessions.delete_sessions(["s1", "s2", "missing"], user_id="ana") == 1
    assert await db.sessions.get_session("s1") is None
    assert await db.sessions.get_session("s2") is not None
    assert await db.sessions.delete_sessions(["s2", "s3"]) == 2
    assert await db.sessions.delete_sessions([]) == 0
    assert (await db.sessions.list_sessions(SessionQuery())).total == 0

    await db.sessions.save_run(session("s1", user_id="ana"), run("r9"), session_state=None)
    recreated = await db.sessions.get_session("s1")
    assert recreated is not None and [r["run_id"] for r in recreated.runs or []] == ["r9"]


async def test_save_run_creates_the_session_from_new_when_it_does_not_exist(db: Database) -> None:
    new = session("s1", user_id="ana", session_data={"session_name": "First"}, agent_data={"name": "A"})

    saved = await db.sessions.save_run(new, run("r1", content="hello"), session_state={"n": 1})

    assert saved.runs is None  # the runs are not read back: a save costs the same at any session size
    assert saved.session_data == {"session_name": "First", "session_state": {"n": 1}}
    assert (saved.user_id, saved.agent_data, saved.created_at) == ("ana", {"name": "A"}, 1_000)
    assert await db.sessions.get_session("s1") == replace(saved, runs=[run("r1", content="hello")])


async def test_get_session_with_recent_runs_reads_the_latest_top_level_runs_it_may_replay(db: Database) -> None:
    new = session("s1", session_data={"session_state": {"n": 1}})
    for index in range(1, 8):
        status = {3: "ERROR", 6: "CANCELLED"}.get(index, "COMPLETED")
        await db.sessions.save_run(new, run(f"r{index}", status=status), session_state=None)
    await db.sessions.save_run(new, run("child", parent_run_id="r7"), session_state=None)
    await db.sessions.save_run(new, run("r2", content="rewritten"), session_state=None)
    window = RecentRuns(limit=3, skip_statuses=frozenset({"ERROR", "CANCELLED"}))

    recent = await db.sessions.get_session("s1", recent_runs=window)

    assert recent is not None
    assert [r["run_id"] for r in recent.runs or []] == ["r4", "r5", "r7"]
    assert recent.session_data == {"session_state": {"n": 1}}
    wide = await db.sessions.get_session("s1", recent_runs=RecentRuns(limit=100, skip_statuses=window.skip_statuses))
    assert wide is not None and [r["run_id"] for r in wide.runs or []] == ["r1", "r2", "r4", "r5", "r7"]
    assert wide.runs is not None and wide.runs[1]["content"] == "rewritten"
    nothing = await db.sessions.get_session("s1", recent_runs=RecentRuns(limit=0))
    assert nothing is not None and nothing.runs == []
    assert await db.sessions.get_session("s1", user_id="someone-else", recent_runs=window) is None


async def test_save_run_appends_runs_in_order_and_replaces_one_with_the_same_run_id(db: Database) -> None:
    new = session("s1")
    await db.sessions.save_run(new, run("r1", content="one"), session_state=None)
    await db.sessions.save_run(new, run("r2", content="two", status="RUNNING"), session_state=None)
    await db.sessions.save_run(new, run("r3", content="three"), session_state=None)

    saved = await db.sessions.save_run(new, run("r2", content="two, finished"), session_state=None)

    expected = [run("r1", content="one"), run("r2", content="two, finished"), run("r3", content="three")]
    stored = await db.sessions.get_session("s1")
    assert stored is not None and stored.runs == expected
    assert stored == replace(saved, runs=expected)


async def test_save_run_replaces_the_session_state_and_keeps_it_when_none_is_given(db: Database) -> None:
    new = session("s1")
    await db.sessions.save_run(new, run("r1"), session_state={"items": ["a"], "count": 1})
    await db.sessions.save_run(new, run("r2"), session_state={"count": 2})
    kept = await db.sessions.save_run(new, run("r3"), session_state=None)

    assert kept.session_data == {"session_state": {"count": 2}}


async def test_save_run_keeps_the_stored_session_rather_than_new(db: Database) -> None:
    await db.sessions.upsert_session(session("s1", user_id="ana", metadata={"kept": True}, created_at=500))

    saved = await db.sessions.save_run(session("s1", metadata={"ignored": True}), run("r1"), session_state=None)

    assert (saved.metadata, saved.user_id, saved.created_at) == ({"kept": True}, "ana", 500)
    assert saved.updated_at is not None and saved.updated_at > 500


async def test_a_run_without_run_id_is_rejected_before_anything_is_written(db: Database) -> None:
    with pytest.raises(ValueError, match="run_id"):
        await db.sessions.save_run(session("s1"), {"content": "no id"}, session_state=None)

    assert await db.sessions.get_session("s1") is None


async def test_upsert_session_replaces_the_stored_row_and_its_runs(db: Database) -> None:
    await db.sessions.upsert_session(session("s1", metadata={"v": 1}, runs=[run("r1"), run("r2"), run("r3")]))

    replacement = session("s1", metadata={"v": 2}, runs=[run("r3", content="kept"), run("r4")], updated_at=9_000)
    await db.sessions.upsert_session(replacement)

    assert await db.sessions.get_session("s1") == replacement


async def test_utf8_text_round_trips_everywhere(db: Database) -> None:
    text = "会话缓存 — naïve café 🚀"
    row = session(
        "会话-1",
        user_id="用户",
        session_data={"session_name": text, "session_state": {"键": text}},
        runs=[run("运行-1", content=text)],
    )
    written = await db.sessions.upsert_session(row)

    assert written.session_data == row.session_data and written.runs == row.runs
    assert await db.sessions.get_session("会话-1") == written
    listed = await db.sessions.list_sessions(SessionQuery(user_id="用户", session_name="缓存"))
    assert [r.session_id for r in listed.items] == ["会话-1"]


async def test_returned_rows_are_copies_the_caller_cannot_change_the_store_through(db: Database) -> None:
    written = await db.sessions.upsert_session(
        session("s1", session_data={"session_state": {"n": 1}}, runs=[run("r1")])
    )
    assert written.session_data is not None and written.runs is not None
    written.session_data["session_state"]["n"] = 99
    written.runs.append(run("ghost"))

    stored = await db.sessions.get_session("s1")

    assert stored is not None
    assert stored.session_data == {"session_state": {"n": 1}}
    assert [r["run_id"] for r in stored.runs or []] == ["r1"]


async def test_replace_run_rewrites_a_run_stored_with_the_expected_status_in_its_place(db: Database) -> None:
    await db.sessions.save_run(session("s1", user_id="ana"), run("r1"), session_state=None)
    await db.sessions.save_run(
        session("s1", user_id="ana"), run("r2", status="PAUSED", content="wait"), session_state=None
    )
    await db.sessions.save_run(session("s1", user_id="ana"), run("r3"), session_state=None)

    replaced = await db.sessions.replace_run("s1", run("r2", status="RUNNING", content="going on"), status="PAUSED")

    stored = await db.sessions.get_session("s1")
    assert replaced is True
    assert stored is not None and [(r["run_id"], r["status"]) for r in stored.runs or []] == [
        ("r1", "COMPLETED"),
        ("r2", "RUNNING"),
        ("r3", "COMPLETED"),
    ]
    assert (stored.runs or [])[1]["content"] == "going on"
    assert stored.user_id == "ana"


async def test_replace_run_writes_nothing_when_the_run_has_another_status_or_is_not_there(db: Database) -> None:
    await db.sessions.save_run(session("s1"), run("r1", status="PAUSED"), session_state=None)
    await db.sessions.save_run(session("s2"), run("r2", status="COMPLETED"), session_state=None)
    before = [await db.sessions.get_session(session_id) for session_id in ("s1", "s2")]

    assert await db.sessions.replace_run("s2", run("r2", status="RUNNING"), status="PAUSED") is False
    assert await db.sessions.replace_run("s2", run("r1", status="RUNNING"), status="PAUSED") is False  # not its session
    assert await db.sessions.replace_run("s1", run("missing", status="RUNNING"), status="PAUSED") is False
    assert await db.sessions.replace_run("nowhere", run("r1", status="RUNNING"), status="PAUSED") is False

    assert [await db.sessions.get_session(session_id) for session_id in ("s1", "s2")] == before


async def test_replace_run_with_events_rewrites_only_a_run_holding_that_many_events(db: Database) -> None:
    """The run as it was read: one that went on and paused again since holds more events."""
    events = [{"event": "RunStarted"}, {"event": "RunPaused"}]
    await db.sessions.save_run(session("s1"), {**run("r1", status="PAUSED"), "events": events}, session_state=None)
    await db.sessions.save_run(session("s1"), {**run("r2", status="PAUSED"), "events": "damaged"}, session_state=None)
    before = await db.sessions.get_session("s1")

    assert await db.sessions.replace_run("s1", run("r1", status="RUNNING"), status="PAUSED", events=1) is False
    assert await db.sessions.replace_run("s1", run("r1", status="RUNNING"), status="PAUSED", events=3) is False
    assert await db.sessions.get_session("s1") == before
    assert await db.sessions.replace_run("s1", run("r1", status="RUNNING"), status="PAUSED", events=2) is True
    # Events that are no list count as none.
    assert await db.sessions.replace_run("s1", run("r2", status="RUNNING"), status="PAUSED", events=0) is True

    stored = await db.sessions.get_session("s1")
    assert stored is not None and [r["status"] for r in stored.runs or []] == ["RUNNING", "RUNNING"]


async def test_replace_run_refuses_a_run_without_a_run_id(db: Database) -> None:
    with pytest.raises(ValueError, match="run_id"):
        await db.sessions.replace_run("s1", {"status": "RUNNING"}, status="PAUSED")


async def test_only_one_of_two_replacements_expecting_the_same_status_wins(db: Database) -> None:
    await db.sessions.save_run(session("s1"), run("r1", status="PAUSED"), session_state=None)

    first, second = await asyncio.gather(
        db.sessions.replace_run("s1", run("r1", status="RUNNING", by="first"), status="PAUSED"),
        db.sessions.replace_run("s1", run("r1", status="RUNNING", by="second"), status="PAUSED"),
    )

    stored = await db.sessions.get_session("s1")
    assert sorted([first, second]) == [False, True]
    assert stored is not None and (stored.runs or [])[0]["by"] == ("first" if first else "second")
