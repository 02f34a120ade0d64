"""Leader election with a ``coordination.k8s.io`` Lease: with several replicas, exactly one writes.

Why a Lease and not kopf's peering: peering needs its own CRDs, and replicas of equal priority
freeze each other by design; a Lease is what Kubernetes' own controllers use, needs one Role,
and its compare-and-swap (every write carries the ``resourceVersion`` it read) means two
replicas can never both take it.

The rules are client-go's. The holder renews every third of the lease duration and gives up
leadership when it could not renew for two thirds of it (its renew deadline), a third of the
duration before any other replica may take the Lease over. A standby judges expiry by its own
monotonic clock, never by the holder's ``renewTime``: it remembers the Lease's record as it
last saw it and when it first saw that record, and takes the Lease over only when the record
stayed unchanged for a whole duration. So clocks of different nodes may disagree by any
amount; they need only run at the same rate. Each renewal is cut off at the renew deadline,
however slow the API server, and the elector's requests time out within a third of the
duration (``OperatorSettings.lease_request_timeout_seconds``), so that a renewal that hangs
still leaves time for another. A replica stops writing within that third (the operator stops
kopf on losing the Lease, and stands by again).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agentos_operator.errors import OperatorError
from agentos_operator.kube.client import ApiClient, ApiConflictError, ApiError
from agentos_operator.kube.kinds import LEASE

Clock = Callable[[], datetime.datetime]
Monotonic = Callable[[], float]
Decision = Literal["create", "renew", "take", "wait"]
# What a standby watches change in a Lease: (holder, renewTime, leaseDurationSeconds, leaseTransitions).
Record = tuple[str | None, datetime.datetime | None, int, int]


class LeaseLostError(OperatorError):
    """This replica no longer holds the Lease and must stop writing."""


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def format_micro_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class LeaseView:
    holder: str | None
    renewed: datetime.datetime | None
    duration: int
    transitions: int
    resource_version: str

    @property
    def record(self) -> Record:
        """What changes when the holder renews or another replica takes over."""
        return (self.holder, self.renewed, self.duration, self.transitions)


@dataclass(frozen=True)
class Observation:
    """A Lease record as this replica saw it, and the local monotonic time it first saw it."""

    record: Record
    seen_at: float


def read_lease(body: Mapping[str, Any]) -> LeaseView:
    spec = body.get("spec") or {}
    return LeaseView(
        holder=spec.get("holderIdentity") or None,
        renewed=parse_micro_time(spec.get("renewTime") or spec.get("acquireTime")),
        duration=int(spec.get("leaseDurationSeconds") or 0),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str(body["metadata"]["resourceVersion"]),
    )


def observe(previous: Observation | None, lease: LeaseView | None, now: float) -> Observation | None:
    """Pure: what this replica knows after reading ``lease`` at local monotonic time ``now``.

    An unchanged record keeps the time it was first seen; a changed one starts its clock now.
    """
    if lease is None:
        return None
    if previous is not None and previous.record == lease.record:
        return previous
    return Observation(lease.record, now)


def decide(lease: LeaseView | None, identity: str, observed: Observation | None, now: float) -> Decision:
    """Pure: what a replica named ``identity`` may do with the Lease it just read.

    ``observed``: that Lease's record and when this replica first saw it (``observe``);
    ``now``: the same local monotonic clock. Another holder's Lease expired when its record
    stayed unchanged for its whole duration by this clock.
    """
    if lease is None:
        return "create"
    if lease.holder == identity:
        return "renew"
    if lease.holder is None:
        return "take"
    seen_at = observed.seen_at if observed is not None and observed.record == lease.record else now
    return "take" if now >= seen_at + lease.duration else "wait"


class LeaseElector:
    """Acquires, renews and releases one Lease for one replica."""

    def __init__(
        self,
        api: ApiClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        duration: int,
        field_manager: str,
        logger: logging.Logger,
        clock: Clock = utc_now,
        monotonic: Monotonic = time.monotonic,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        """``clock`` stamps the times written in the Lease; ``monotonic`` judges expiry and deadlines;
        ``annotations`` are written on the Lease whenever this replica takes it."""
        self._annotations = dict(annotations or {})
        self._api, self._namespace, self._name = api, namespace, name
        self.identity, self.duration = identity, duration
        self._field_manager, self._logger, self._clock, self._monotonic = field_manager, logger, clock, monotonic
        self._observed: Observation | None = None
        # When the last attempt that wrote the Lease as ours started: the write is no older.
        self.renewed_at: float | None = None

    @property
    def namespace(self) -> str:
        return self._namespace

    async def try_acquire(self) -> bool:
        """One attempt to become (or stay) the holder; False when another replica holds the Lease."""
        started = self._monotonic()
        body = await self._api.get(LEASE, self._namespace, self._name)
        lease = read_lease(body) if body is not None else None
        now = self._monotonic()
        self._observed = observe(self._observed, lease, now)
        decision = decide(lease, self.identity, self._observed, now)
        if decision == "wait":
            return False
        spec: dict[str, Any] = {"holderIdentity": self.identity, "renewTime": format_micro_time(self._clock())}
        try:
            if lease is None:
                manifest = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": self._name,
                        "namespace": self._namespace,
                        **({"annotations": self._annotations} if self._annotations else {}),
                    },
                    "spec": {
                        **spec,
                        "leaseDurationSeconds": self.duration,
                        "acquireTime": spec["renewTime"],
                        "leaseTransitions": 0,
                    },
                }
                await self._api.create(manifest, field_manager=self._field_manager)
            else:
                if decision == "take":
                    spec.update(acquireTime=spec["renewTime"], leaseDurationSeconds=self.duration)
                    spec["leaseTransitions"] = lease.transitions + 1
                metadata: dict[str, Any] = {"resourceVersion": lease.resource_version}
                if decision == "take" and self._annotations:
                    metadata["annotations"] = self._annotations
                patch = {"metadata": metadata, "spec": spec}
                await self._api.patch(LEASE, self._namespace, self._name, patch, field_manager=self._field_manager)
        except ApiConflictError:
            return False  # another replica wrote first: it holds the Lease now
        self.renewed_at = started
        if decision != "renew":
            self._logger.info("acquired the Lease %s/%s as %s", self._namespace, self._name, self.identity)
        return True

    async def acquire(self, *, stopped: Callable[[], bool], retry_seconds: float) -> bool:
        """Wait until this replica holds the Lease; False when ``stopped`` turned true first."""
        while not stopped():
            try:
                if await self.try_acquire():
                    return True
            except ApiError as error:
                self._logger.warning("could not read the Lease %s/%s: %s", self._namespace, self._name, error)
            await asyncio.sleep(retry_seconds)
        return False

    async def hold(self, *, retry_seconds: float) -> None:
        """Renew until renewal fails for two thirds of the duration; then raise ``LeaseLostError``.

        Renews every third of the duration, and every ``retry_seconds`` after a failure (a
        dropped connection, a timeout, an error status). Each attempt is cut off at the
        deadline: a hung request cannot keep this replica writing after another may take over.
        """
        deadline = self.duration * 2 / 3
        pause = self.duration / 3
        while True:
            renewed_at = self.renewed_at if self.renewed_at is not None else self._monotonic()
            await asyncio.sleep(max(min(pause, renewed_at + deadline - self._monotonic()), 0))
            remaining = renewed_at + deadline - self._monotonic()
            if remaining <= 0:
                raise LeaseLostError(f"could not renew the Lease {self._namespace}/{self._name} in {deadline:.1f}s")
            pause = min(retry_seconds, self.duration / 3)
            try:
                async with asyncio.timeout(remaining):
                    if await self.try_acquire():
                        pause = self.duration / 3
                        continue
                    if await self.holder() != self.identity:
                        raise LeaseLostError(f"another replica took the Lease {self._namespace}/{self._name}")
            except ApiError as error:
                self._logger.warning("could not renew the Lease: %s", error)
            except TimeoutError:
                self._logger.warning("could not renew the Lease: no answer before the renew deadline")

    async def holder(self) -> str | None:
        """Who holds the Lease now, by the API server's record."""
        body = await self._api.get(LEASE, self._namespace, self._name)
        return read_lease(body).holder if body is not None else None

    async def release(self) -> None:
        """Give the Lease up on a clean stop, so another replica takes over at once."""
        body = await self._api.get(LEASE, self._namespace, self._name)
        if body is None or read_lease(body).holder != self.identity:
            return
        patch = {"metadata": {"resourceVersion": body["metadata"]["resourceVersion"]}, "spec": {"holderIdentity": None}}
        try:
            await self._api.patch(LEASE, self._namespace, self._name, patch, field_manager=self._field_manager)
        except ApiConflictError:
            return  # it changed hands meanwhile: nothing of ours to release
        self._logger.info("released the Lease %s/%s", self._namespace, self._name)
