"""The cancelled events an outer run sends for the nested runs its cancel cut short: innermost
first, each stamped as its forwarded events were, none for a run whose end was already told."""

from __future__ import annotations

from typing import Any

from agentos_runtime.runs.nesting import cancelled_events


def agent_run(run_id: str, status: str = "CANCELLED", **fields: Any) -> dict[str, Any]:
    return {"run_id": run_id, "agent_id": "poet", "agent_name": "Poet", "session_id": "s1", "status": status, **fields}


def nested_team(*members: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": "inner",
        "team_id": "writers",
        "team_name": "Writers",
        "session_id": "s1",
        "status": "CANCELLED",
        "parent_run_id": "outer",
        "member_responses": list(members),
    }


def test_a_cut_team_tells_its_cut_members_first_then_itself_each_stamped_with_its_parent() -> None:
    team = nested_team(agent_run("m1", content="Hel", parent_run_id="inner"))

    told = [event.to_dict() for event in cancelled_events(team, {"parent_run_id": "outer", "step_name": "write"})]

    assert [(e["event"], e["run_id"], e["parent_run_id"]) for e in told] == [
        ("RunCancelled", "m1", "inner"),
        ("TeamRunCancelled", "inner", "outer"),
    ]
    assert all(e["step_name"] == "write" for e in told), "the outer run's stamp reaches every level"
    assert (told[0]["agent_id"], told[0]["content"]) == ("poet", "Hel")
    assert (told[1]["team_id"], told[1]["content"]) == ("writers", "Run inner was cancelled")


def test_members_that_ended_on_their_own_or_were_already_told_are_left_out() -> None:
    team = nested_team(
        agent_run("done", status="COMPLETED", parent_run_id="inner"),
        agent_run("told", parent_run_id="inner"),
        agent_run("cut", parent_run_id="inner"),
    )

    told = cancelled_events(team, {"parent_run_id": "outer"}, told={"told"})

    assert [event.to_dict()["run_id"] for event in told] == ["cut", "inner"]


def test_a_run_that_completed_or_whose_end_was_told_gives_nothing() -> None:
    assert cancelled_events(agent_run("a", status="COMPLETED"), {}) == []
    assert cancelled_events(agent_run("a"), {}, told={"a"}) == []
