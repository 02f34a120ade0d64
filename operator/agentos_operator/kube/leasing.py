"""Leader election with a ``coordination.k8s.io`` Lease: with several replicas, exactly one writes.

Why a Lease and not kopf's peering: peering needs its own CRDs, and replicas of equal priority
freeze each other by design; a Lease is what Kubernetes' own controllers use, needs one Role,
and its compare-and-swap (every write carries the ``resourceVersion`` it read) means two
replicas can never both take it. The holder renews every third of the lease duration and gives
up leadership when it could not renew for two thirds of it, a third of the duration before any
other replica may take the Lease over. As with client-go, this assumes clocks run at the same
rate and that a replica stops writing within that third (the operator exits on losing it).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agentos_operator.errors import OperatorError
from agentos_operator.kube.client import ApiClient, ApiConflictError, ApiError
from agentos_operator.kube.kinds import LEASE

Clock = Callable[[], datetime.datetime]
Decision = Literal["create", "renew", "take", "wait"]


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


def read_lease(body: Mapping[str, Any]) -> LeaseView:
    spec = body.get("spec") or {}
    return LeaseView(
        holder=spec.get("holderIdentity") or None,
        renewed=parse_micro_time(spec.get("renewTime") or spec.get("acquireTime")),
        duration=int(spec.get("leaseDurationSeconds") or 0),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str(body["metadata"]["resourceVersion"]),
    )


def decide(lease: LeaseView | None, identity: str, now: datetime.datetime) -> Decision:
    """Pure: what a replica named ``identity`` may do with the Lease it just read."""
    if lease is None:
        return "create"
    if lease.holder == identity:
        return "renew"
    expired = lease.renewed is None or now >= lease.renewed + datetime.timedelta(seconds=lease.duration)
    return "take" if lease.holder is None or expired else "wait"


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
    ) -> None:
        self._api, self._namespace, self._name = api, namespace, name
        self.identity, self.duration = identity, duration
        self._field_manager, self._logger, self._clock = field_manager, logger, clock

    async def try_acquire(self) -> bool:
        """One attempt to become (or stay) the holder; False when another replica holds the Lease."""
        body = await self._api.get(LEASE, self._namespace, self._name)
        lease = read_lease(body) if body is not None else None
        now = self._clock()
        decision = decide(lease, self.identity, now)
        if decision == "wait":
            return False
        spec: dict[str, Any] = {"holderIdentity": self.identity, "renewTime": format_micro_time(now)}
        try:
            if lease is None:
                manifest = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self._name, "namespace": self._namespace},
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
                patch = {"metadata": {"resourceVersion": lease.resource_version}, "spec": spec}
                await self._api.patch(LEASE, self._namespace, self._name, patch, field_manager=self._field_manager)
        except ApiConflictError:
            return False  # another replica wrote first: it holds the Lease now
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

    async def hold(self) -> None:
        """Renew until renewal fails for two thirds of the duration; then raise ``LeaseLostError``."""
        loop = asyncio.get_running_loop()
        renewed_at = loop.time()
        deadline = self.duration * 2 / 3
        while True:
            await asyncio.sleep(self.duration / 3)
            try:
                if await self.try_acquire():
                    renewed_at = loop.time()
                    continue
                if await self.holder() != self.identity:
                    raise LeaseLostError(f"another replica took the Lease {self._namespace}/{self._name}")
            except ApiError as error:
                self._logger.warning("could not renew the Lease: %s", error)
            if loop.time() - renewed_at >= deadline:
                raise LeaseLostError(f"could not renew the Lease {self._namespace}/{self._name} in {deadline:.1f}s")

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
