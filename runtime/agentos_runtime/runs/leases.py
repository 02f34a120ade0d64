"""Leases on runs stored as they start: how a reader tells a run going on from one whose replica died.

A run in the background, and a paused run going on, are stored ``RUNNING`` as they start, and
their final save replaces that record. A replica that dies in between (killed for memory, its
node lost) never makes that save, and nothing else would: pollers would read ``RUNNING`` for
ever. So the start record carries ``lease_expires_at`` (Unix seconds), which the replica running
it renews while the run goes on (every third of ``LEASE_SECONDS``, ``Lifecycle``); a reader that
finds a run still ``RUNNING`` (or ``PENDING``) past its lease shows it ``ERROR``, saying the
replica running it went away (``settled``). Nothing is written for that: if the replica was only
cut off for a while, its final save still replaces the record. Runs stored without a lease (by
earlier versions, or by Agno) are shown as stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

JSON = dict[str, Any]

LEASE_SECONDS = 60.0
"""How long a start record stays ``RUNNING`` to readers without a renewal (clocks of replicas
may differ by a few seconds: far less than this)."""
LEASE_FIELD = "lease_expires_at"
UNENDED_STATUSES = frozenset({"PENDING", "RUNNING"})
LOST = "The run stopped without ending: the replica running it went away (its lease expired). Start the run again."


def with_lease(run: JSON, *, now: float, seconds: float = LEASE_SECONDS) -> JSON:
    """``run`` (a start record) holding a lease until ``seconds`` after ``now``."""
    return {**run, LEASE_FIELD: int(now + seconds) + 1}


def lease_expired(run: JSON, *, now: float) -> bool:
    """Whether ``run`` is stored as going on, under a lease that ended before ``now``."""
    lease = run.get(LEASE_FIELD)
    if run.get("status") not in UNENDED_STATUSES or isinstance(lease, bool) or not isinstance(lease, int | float):
        return False
    return lease < now


def settled(run: JSON, *, now: float) -> JSON:
    """``run`` as a reader shows it: ``ERROR``, saying why, when its lease expired; else as stored."""
    if not lease_expired(run, now=now):
        return run
    return {**run, "status": "ERROR", "content": LOST}


def settled_runs(runs: Sequence[JSON] | None, *, now: float) -> list[JSON]:
    """Each of ``runs`` as ``settled`` shows it (none: an empty list)."""
    return [settled(run, now=now) for run in runs or ()]
