"""The pure rules of the daily metrics: which days are recomputed, a day's rows, daily totals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta

from agentos_runtime.metrics import aggregating
from agentos_runtime.storage.ports import MetricsDays, MetricsRow, RunUsage, SessionActivity
from hypothesis import example, given, settings
from hypothesis import strategies as st

# 2026-03-01T00:00:00Z
MARCH_1 = 1_772_323_200
DAY = 86_400
TODAY = date(2026, 3, 3)
KNOWN = ("agent", "team", "workflow")


def usage(model: str = "gpt-x", provider: str = "OpenAI", total: int = 10) -> RunUsage:
    return RunUsage(model, provider, {"input_tokens": total - 3, "output_tokens": 3, "total_tokens": total})


def activity(session_id: str, *, user: str | None = "ana", at: int = MARCH_1, kind: str = "agent", **more: object):  # type: ignore[no-untyped-def]
    return SessionActivity(session_id=session_id, session_type=kind, created_at=at, user_id=user, **more)  # type: ignore[arg-type]


def test_the_first_refresh_starts_on_the_day_of_the_first_session() -> None:
    first = aggregating.resume_day(MetricsDays(None, None), MARCH_1 + 5, today=TODAY)
    assert first == date(2026, 3, 1)
    assert aggregating.resume_day(MetricsDays(None, None), None, today=TODAY) is None


def test_a_refresh_resumes_at_the_first_pending_day_else_after_the_last_final_one() -> None:
    assert aggregating.resume_day(MetricsDays(date(2026, 3, 1), date(2026, 3, 2)), None, today=TODAY) == date(
        2026, 3, 2
    )
    assert aggregating.resume_day(MetricsDays(date(2026, 3, 1), None), None, today=TODAY) == date(2026, 3, 2)
    assert aggregating.resume_day(MetricsDays(date(2026, 3, 9), None), None, today=TODAY) == TODAY


def test_a_days_rows_count_per_owner_sessions_runs_models_and_tokens() -> None:
    sessions = [
        activity("a1", runs=[usage(total=10), usage("gpt-y", "Other", total=4)]),
        activity("a2", runs=[usage(total=6)]),
        activity("t1", kind="team", runs=[usage(total=5)]),
        activity("w1", user=None, kind="workflow", runs=[usage(total=2), RunUsage(None, None, None)]),
        activity("other-day", at=MARCH_1 + DAY, runs=[usage()]),
    ]

    rows = aggregating.day_rows(date(2026, 3, 1), sessions, now=123, today=TODAY)

    unowned, ana = rows
    assert (ana.user_id, ana.users_count, ana.completed, ana.created_at) == ("ana", 1, True, 123)
    assert (ana.agent_sessions_count, ana.agent_runs_count, ana.team_sessions_count, ana.team_runs_count) == (
        2,
        3,
        1,
        1,
    )
    assert ana.token_metrics["total_tokens"] == 25 and ana.token_metrics["input_tokens"] == 13
    assert ana.token_metrics["reasoning_tokens"] == 0
    assert ana.model_metrics == [
        {"model_id": "gpt-x", "model_provider": "OpenAI", "count": 3},
        {"model_id": "gpt-y", "model_provider": "Other", "count": 1},
    ]
    assert (unowned.user_id, unowned.users_count, unowned.workflow_runs_count) == ("", 0, 2)
    assert unowned.model_metrics == [{"model_id": "gpt-x", "model_provider": "OpenAI", "count": 1}]


def test_counts_that_cannot_be_trusted_are_not_counted_and_the_day_is_still_computed() -> None:
    # Stored by an older version, another writer or a model's usage: NaN once failed every refresh.
    bad = [float("nan"), float("inf"), -5, 2**63, "12", True, [1], {"n": 1}, None, 1.5]
    runs = [RunUsage("gpt-x", "OpenAI", {"input_tokens": value, "total_tokens": value}) for value in bad]
    runs.append(RunUsage("gpt-x", "OpenAI", {"input_tokens": 7.0, "total_tokens": 2**63 - 1}))

    (row,) = aggregating.day_rows(date(2026, 3, 1), [activity("a1", runs=runs)], now=1, today=TODAY)

    assert (row.token_metrics["input_tokens"], row.token_metrics["total_tokens"]) == (7, 2**63 - 1)
    assert row.agent_runs_count == 11


def test_session_metrics_agno_kept_win_over_the_runs_metrics() -> None:
    session = activity("a1", session_metrics={"input_tokens": 100, "total_tokens": 150}, runs=[usage(total=10)])

    (row,) = aggregating.day_rows(date(2026, 3, 1), [session], now=1, today=TODAY)

    assert (row.token_metrics["input_tokens"], row.token_metrics["total_tokens"]) == (100, 150)


def test_today_is_never_final() -> None:
    (row,) = aggregating.day_rows(TODAY, [activity("a1", at=MARCH_1 + 2 * DAY)], now=1, today=TODAY)
    assert row.completed is False


def test_a_session_of_a_type_the_runtime_does_not_know_is_not_counted_at_all() -> None:
    # Written by another writer or an older version (the API cannot create one): it once failed
    # every refresh with a KeyError on ``weird_sessions_count``.
    sessions = [
        activity("a1", runs=[usage(total=10)]),
        activity("odd", kind="weird", runs=[usage("gpt-odd", total=99)], session_metrics={"total_tokens": 99}),
        activity("only-odd", user="bob", kind="weird", runs=[usage()]),
    ]

    (ana,) = aggregating.daily_rows(sessions, first=date(2026, 3, 1), now=1, today=TODAY)

    assert (ana.user_id, ana.agent_sessions_count, ana.agent_runs_count) == ("ana", 1, 1)
    assert ana.token_metrics["total_tokens"] == 10
    assert ana.model_metrics == [{"model_id": "gpt-x", "model_provider": "OpenAI", "count": 1}]


def test_days_without_sessions_have_no_rows_even_after_a_session_at_epoch_zero() -> None:
    sessions = [activity("epoch", at=0), activity("a1", at=MARCH_1 + 2 * DAY)]

    rows = aggregating.daily_rows(sessions, first=date(1970, 1, 1), now=1, today=TODAY)

    assert [(row.date, row.completed) for row in rows] == [(date(1970, 1, 1), True), (TODAY, False)]


def test_daily_rows_skip_sessions_outside_first_to_today() -> None:
    sessions = [activity("before", at=MARCH_1 - 1), activity("in", at=MARCH_1), activity("after", at=MARCH_1 + 3 * DAY)]

    rows = aggregating.daily_rows(sessions, first=date(2026, 3, 1), now=1, today=TODAY)

    assert [(row.date, row.agent_sessions_count) for row in rows] == [(date(2026, 3, 1), 1)]


def reference_rows(sessions: Sequence[SessionActivity], *, first: date, now: int, today: date) -> list[MetricsRow]:
    """The rows as the refresh built them before: every day from ``first`` to ``today`` in turn,
    each scanning every session; one row per owner with sessions of a known type that day."""
    dated = [(aggregating.utc_day(session.created_at), session) for session in sessions]
    rows = []
    day = first
    while day <= today:
        todays = [session for created, session in dated if created == day and session.session_type in KNOWN]
        for owner in sorted({session.user_id or "" for session in todays}):
            rows.append(reference_row(day, [s for s in todays if (s.user_id or "") == owner], owner, now, today))
        day += timedelta(days=1)
    return rows


def reference_row(day: date, sessions: list[SessionActivity], owner: str, now: int, today: date) -> MetricsRow:
    agent, team, workflow = ([session for session in sessions if session.session_type == kind] for kind in KNOWN)
    models: dict[tuple[str, str], int] = {}
    for session in sessions:
        for run in session.runs:
            if run.model:
                key = (run.model, run.model_provider or "")
                models[key] = models.get(key, 0) + 1
    tokens = [aggregating.session_tokens(session) for session in sessions]
    return MetricsRow(
        id="",
        date=day,
        user_id=owner,
        agent_sessions_count=len(agent),
        team_sessions_count=len(team),
        workflow_sessions_count=len(workflow),
        agent_runs_count=sum(len(session.runs) for session in agent),
        team_runs_count=sum(len(session.runs) for session in team),
        workflow_runs_count=sum(len(session.runs) for session in workflow),
        users_count=0 if owner == "" else 1,
        token_metrics={name: sum(each[name] for each in tokens) for name in aggregating.TOKEN_FIELDS},
        model_metrics=[{"model_id": m, "model_provider": p, "count": count} for (m, p), count in models.items()],
        completed=day < today,
        created_at=now,
        updated_at=now,
    )


TODAY_START = aggregating.day_start(TODAY)
TOKENS = st.dictionaries(st.sampled_from(["input_tokens", "output_tokens", "total_tokens"]), st.integers(0, 50))
RUNS = st.builds(RunUsage, st.sampled_from([None, "m1", "m2"]), st.sampled_from([None, "p", "q"]), st.none() | TOKENS)
# Created today, on one of the six days before (some left empty: gaps), tomorrow, or at epoch 0.
CREATED_AT = st.just(0) | st.builds(
    lambda days_ago, second: TODAY_START - days_ago * DAY + second, st.integers(-1, 6), st.integers(0, DAY - 1)
)
SESSIONS = st.lists(
    st.builds(
        SessionActivity,
        session_id=st.just("s"),
        session_type=st.sampled_from(["agent", "team", "workflow", "weird"]),
        created_at=CREATED_AT,
        user_id=st.sampled_from([None, "", "ana", "bob"]),
        session_metrics=st.none() | TOKENS,
        runs=st.lists(RUNS, max_size=3),
    ),
    max_size=15,
)
FIRST_DAYS = st.sampled_from([date(1970, 1, 1), TODAY - timedelta(days=6), TODAY - timedelta(days=2), TODAY])


@settings(max_examples=150, deadline=None, database=None)
@given(sessions=SESSIONS, first=FIRST_DAYS)
@example(sessions=[activity("epoch", at=0), activity("today", at=TODAY_START)], first=date(1970, 1, 1))
def test_one_pass_gives_the_rows_of_scanning_every_day_in_turn(sessions: list[SessionActivity], first: date) -> None:
    rows = aggregating.daily_rows(sessions, first=first, now=7, today=TODAY)

    assert [replace(row, id="") for row in rows] == reference_rows(sessions, first=first, now=7, today=TODAY)
    assert len({row.id for row in rows}) == len(rows)


def test_daily_totals_sum_every_owner_and_merge_models() -> None:
    day = date(2026, 3, 1)
    ana = MetricsRow(
        id="x",
        date=day,
        user_id="ana",
        agent_runs_count=2,
        users_count=1,
        token_metrics={"total_tokens": 10},
        model_metrics=[{"model_id": "m", "model_provider": "p", "count": 2}],
        created_at=5,
        updated_at=50,
    )
    bob = replace(
        ana, id="y", user_id="bob", agent_runs_count=1, token_metrics={"total_tokens": 4}, created_at=3, updated_at=70
    )
    bob = replace(
        bob,
        model_metrics=[
            {"model_id": "m", "model_provider": "p", "count": 1},
            {"model_id": "n", "model_provider": "p", "count": 1},
        ],
    )
    next_day = replace(ana, date=date(2026, 3, 2))

    first, second = aggregating.totals_by_day([next_day, ana, bob])

    assert (first.id, first.agent_runs_count, first.users_count) == ("2026-03-01_daily", 3, 2)
    assert first.token_metrics == {"total_tokens": 14}
    assert first.model_metrics == [
        {"model_id": "m", "model_provider": "p", "count": 3},
        {"model_id": "n", "model_provider": "p", "count": 1},
    ]
    assert (first.created_at, first.updated_at) == (3, 70)
    assert (second.id, second.agent_runs_count) == ("2026-03-02_daily", 2)


def test_a_legacy_row_is_dropped_where_owned_rows_cover_its_day() -> None:
    day = date(2026, 3, 1)
    legacy = MetricsRow(id="old", date=day, user_id="", users_count=3, agent_runs_count=9)
    owned = MetricsRow(id="new", date=day, user_id="ana", users_count=1, agent_runs_count=2)
    alone = replace(legacy, date=date(2026, 2, 28))

    totals = aggregating.totals_by_day([legacy, owned, alone])

    assert [(row.date, row.agent_runs_count) for row in totals] == [(date(2026, 2, 28), 9), (day, 2)]


def test_an_owners_rows_get_agnos_owner_ids() -> None:
    row = MetricsRow(id="uuid", date=date(2026, 3, 1), user_id="ana")
    assert [r.id for r in aggregating.owner_rows([row], "ana")] == ["2026-03-01_ana_daily"]


def test_a_teams_members_runs_count_as_runs_of_its_session_with_their_models_and_tokens() -> None:
    analyst = RunUsage("m-analyst", "OpenAI", {"input_tokens": 300}, run_id="r3")
    inner = RunUsage("m-inner", "OpenAI", {"input_tokens": 200}, run_id="r2", members=(analyst,))
    crew = RunUsage("m-crew", "OpenAI", {"input_tokens": 100}, run_id="r1", members=(inner,))

    (row,) = aggregating.day_rows(date(2026, 3, 1), [activity("t1", kind="team", runs=[crew])], now=1, today=TODAY)

    assert (row.team_runs_count, row.token_metrics["input_tokens"]) == (3, 600)
    assert sorted(m["model_id"] for m in row.model_metrics) == ["m-analyst", "m-crew", "m-inner"]


def test_a_members_run_stored_apart_too_as_agno_does_counts_once() -> None:
    member = RunUsage("m-member", "OpenAI", {"input_tokens": 20}, run_id="r2", parent_run_id="r1")
    team = RunUsage("m-team", "OpenAI", {"input_tokens": 10}, run_id="r1", members=(member,))

    (row,) = aggregating.day_rows(
        date(2026, 3, 1), [activity("t1", kind="team", runs=[team, member])], now=1, today=TODAY
    )

    assert (row.team_runs_count, row.token_metrics["input_tokens"]) == (2, 30)


def test_a_members_run_stored_apart_only_counts_with_its_tokens() -> None:
    member = RunUsage("m-member", "OpenAI", {"input_tokens": 20}, run_id="r2", parent_run_id="r1")
    team = RunUsage("m-team", "OpenAI", {"input_tokens": 10}, run_id="r1")

    (row,) = aggregating.day_rows(
        date(2026, 3, 1), [activity("t1", kind="team", runs=[team, member])], now=1, today=TODAY
    )

    assert (row.team_runs_count, row.token_metrics["input_tokens"]) == (2, 30)


def test_a_workflows_steps_runs_count_in_its_tokens_only() -> None:
    member = RunUsage("m-member", "OpenAI", {"input_tokens": 4}, run_id="r3")
    team_step = RunUsage("m-team", "OpenAI", {"input_tokens": 2}, run_id="r2", members=(member,))
    agent_step = RunUsage("m-agent", "OpenAI", {"input_tokens": 1}, run_id="r4")
    flow = RunUsage(None, None, None, run_id="r1", steps=(team_step, agent_step))

    (row,) = aggregating.day_rows(date(2026, 3, 1), [activity("w1", kind="workflow", runs=[flow])], now=1, today=TODAY)

    assert (row.workflow_runs_count, row.token_metrics["input_tokens"], row.model_metrics) == (1, 7, [])


def test_a_run_naming_itself_among_its_members_still_counts() -> None:
    looped = RunUsage(
        "m", "OpenAI", {"input_tokens": 1}, run_id="r1", members=(RunUsage(metrics={"input_tokens": 2}, run_id="r1"),)
    )

    assert aggregating.runs_tokens([looped])["input_tokens"] == 3


def test_a_sub_teams_member_held_only_inside_the_sub_teams_run_stored_apart_counts_once() -> None:
    agent = RunUsage("m-a", "OpenAI", {"input_tokens": 4}, run_id="a")
    sub_team = RunUsage("m-s", "OpenAI", {"input_tokens": 2}, run_id="s", parent_run_id="t", members=(agent,))
    team = RunUsage("m-t", "OpenAI", {"input_tokens": 1}, run_id="t", members=(sub_team,))

    (row,) = aggregating.day_rows(
        date(2026, 3, 1), [activity("t1", kind="team", runs=[team, sub_team])], now=1, today=TODAY
    )

    assert (row.team_runs_count, row.token_metrics["input_tokens"]) == (3, 7)
    assert sorted((m["model_id"], m["count"]) for m in row.model_metrics) == [("m-a", 1), ("m-s", 1), ("m-t", 1)]
