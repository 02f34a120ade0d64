"""How a reader shows a run stored as it started: going on under its lease, ended once the lease expired."""

from __future__ import annotations

import pytest
from agentos_runtime.runs.leases import LOST, lease_expired, settled, settled_runs, with_lease

NOW = 1_800_000_000.0


def started(**fields: object) -> dict[str, object]:
    return {"run_id": "r1", "status": "RUNNING", "content": None, **fields}


def test_a_lease_runs_for_its_seconds_after_now() -> None:
    leased = with_lease(started(), now=NOW, seconds=60)
    assert leased["lease_expires_at"] > NOW + 60
    assert not lease_expired(leased, now=NOW + 60)
    assert lease_expired(leased, now=NOW + 62)


def test_a_run_going_on_past_its_lease_is_shown_ended_with_why() -> None:
    shown = settled(started(lease_expires_at=int(NOW) - 1), now=NOW)
    assert (shown["status"], shown["content"]) == ("ERROR", LOST)
    assert shown["run_id"] == "r1"


@pytest.mark.parametrize("status", ["RUNNING", "PENDING"])
def test_a_run_going_on_within_its_lease_is_shown_as_stored(status: str) -> None:
    run = started(status=status, lease_expires_at=int(NOW) + 30)
    assert settled(run, now=NOW) is run


@pytest.mark.parametrize("status", ["COMPLETED", "ERROR", "CANCELLED", "PAUSED", None])
def test_an_ended_run_is_shown_as_stored_whatever_its_lease(status: str | None) -> None:
    run = started(status=status, lease_expires_at=0)
    assert settled(run, now=NOW) is run


@pytest.mark.parametrize("lease", [None, True, "0", [0], {"at": 0}, float("nan")])
def test_a_run_without_a_usable_lease_is_shown_as_stored(lease: object) -> None:
    run = started(lease_expires_at=lease)
    assert settled(run, now=NOW) is run


def test_a_huge_lease_never_expires_and_a_huge_past_one_has() -> None:
    assert not lease_expired(started(lease_expires_at=10**400), now=NOW)
    assert lease_expired(started(lease_expires_at=-(10**400)), now=NOW)


def test_settled_runs_shows_each_run_and_reads_none_as_no_runs() -> None:
    runs = [started(run_id="gone", lease_expires_at=0), started(run_id="on", lease_expires_at=int(NOW) + 5)]
    assert [run["status"] for run in settled_runs(runs, now=NOW)] == ["ERROR", "RUNNING"]
    assert settled_runs(None, now=NOW) == []
