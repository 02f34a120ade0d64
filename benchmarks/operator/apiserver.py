"""The emulated API server of the benchmark: the test emulator on 127.0.0.1, and what is read off it.

The emulator (tests/support/emulator.py) runs in the benchmark's own event loop; the operator
is another process talking to it over HTTP like to any API server. Two readings come from it:
the requests it served, counted by verb, and the moment each AgentOSConfig's status caught up
with its generation, seen on the emulator's event stream as it happens (not by polling).
``EmulatedServer`` offers them as ``scenarios.ApiServer`` asks; ``cluster`` is the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kmock
from kmock._internal import references, rendering

from benchmarks.operator import counts, operator_process, workload
from benchmarks.operator.progress import Progress
from tests.support.emulator import Emulator, declare_resources

Key = tuple[str, str]


def verb_of(request: rendering.Request) -> str:
    """The verb a request counts under (``counts.VERBS``): a dry run's own, whatever its method."""
    method = request.method.value
    if method != "GET":
        return "DRY-RUN" if request.params.get("dryRun") else str(method)
    if request.params.get("watch") in ("true", "1"):
        return "WATCH"
    return "GET" if request.name else "LIST"


def record(request: rendering.Request) -> counts.Request:
    plural = request.resource.plural if request.resource is not None else "discovery"
    return counts.Request(verb_of(request), str(plural))


@dataclass
class EmulatedServer:
    """The emulator, as a scenario uses an API server (``scenarios.ApiServer``)."""

    api: Emulator
    progress: Progress
    kubeconfig: Path
    name: str = "emulator"
    runs_pods: bool = False  # no controllers: Deployments never report ready pods
    pin_operator: bool = True  # the emulator shares the benchmark's CPU, the operator has the other

    def mark(self) -> int:
        return self.api.mark()

    def requests_since(self, mark: int) -> list[counts.Request]:
        return [record(request) for request in self.api.requests_since(mark)]

    async def wait_quiet(self, *, quiet: float, timeout: float) -> None:
        """Wait until the emulator served no request for ``quiet`` seconds (open watches excepted)."""
        deadline = time.monotonic() + timeout
        seen, since = self.api.mark(), time.monotonic()
        while time.monotonic() - since < quiet:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the operator kept making requests for {timeout:.0f}s")
            await asyncio.sleep(0.1)
            if self.api.mark() != seen:
                seen, since = self.api.mark(), time.monotonic()

    async def prepare(self, count: int, *, foreign_secrets: int) -> None:
        await workload.prepare_namespaces(self.api, count, foreign_secrets=foreign_secrets)

    async def create_resources(self, count: int) -> dict[Key, float]:
        return await workload.create_resources(self.api, count)

    async def change_resources(self, count: int) -> dict[Key, tuple[int, float]]:
        return await workload.change_resources(self.api, count)

    async def children_per_resource(self, count: int) -> float:
        return workload.children_per_resource(
            [body for kind in workload.CHILD_KINDS for body in self.api.list_objects(kind)], count
        )

    def usage(self) -> dict[str, Any]:
        return {}  # the emulator runs in the benchmark's own process


@contextlib.asynccontextmanager
async def serve(work: Path) -> AsyncIterator[EmulatedServer]:
    """A fresh emulator serving the operator's kinds, with a kubeconfig for the operator in ``work``."""
    async with Emulator() as api, kmock.Server(api):
        declare_resources(api)
        progress = Progress()

        def listen(resource: references.resource, event: dict[str, Any]) -> None:
            if resource.plural == "agentosconfigs" and event["type"] != "DELETED":
                progress.observe(event["object"])

        api.listen(listen)
        kubeconfig = work / "kubeconfig"
        operator_process.write_kubeconfig(kubeconfig, str(api.url).rstrip("/"))
        yield EmulatedServer(api, progress, kubeconfig)
