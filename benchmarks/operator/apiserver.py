"""The API server of the benchmark: the test emulator on 127.0.0.1, and what the benchmark reads off it.

The emulator (tests/support/emulator.py) runs in the benchmark's own event loop; the operator
is another process talking to it over HTTP like to any API server. Two readings come from it:
the requests it served, counted by verb, and the moment each AgentOSConfig's status caught up
with its generation, seen on the emulator's event stream as it happens (not by polling).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import kmock
from kmock._internal import references, rendering

from tests.support.emulator import Emulator, declare_resources

VERBS = ("GET", "LIST", "WATCH", "POST", "PATCH", "PUT", "DELETE")
WRITE_VERBS = ("POST", "PATCH", "PUT", "DELETE")
Key = tuple[str, str]


def verb_of(request: rendering.Request) -> str:
    """The verb a request counts under: GET of one object, LIST, WATCH, or the write method."""
    method = request.method.value
    if method != "GET":
        return str(method)
    if request.params.get("watch") in ("true", "1"):
        return "WATCH"
    return "GET" if request.name else "LIST"


def count_verbs(requests: Iterable[rendering.Request]) -> dict[str, int]:
    counts = collections.Counter(verb_of(request) for request in requests)
    return {verb: counts.get(verb, 0) for verb in VERBS}


def count_by_kind(requests: Iterable[rendering.Request]) -> dict[str, dict[str, int]]:
    """Requests by resource plural, then verb (only the verbs seen)."""
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for request in requests:
        plural = request.resource.plural if request.resource is not None else "discovery"
        table[str(plural)][verb_of(request)] += 1
    return {plural: dict(sorted(verbs.items())) for plural, verbs in sorted(table.items())}


class Progress:
    """When each AgentOSConfig's status was written for its current generation, from the event stream.

    A status counts as written when it observed the generation and carries a config hash: the
    operator writes both only after applying every child.
    """

    def __init__(self) -> None:
        self.reached: dict[Key, tuple[int, float]] = {}

    def __call__(self, resource: references.resource, event: dict[str, Any]) -> None:
        if resource.plural != "agentosconfigs" or event["type"] == "DELETED":
            return
        meta = event["object"]["metadata"]
        status = event["object"].get("status") or {}
        generation = meta.get("generation")
        if status.get("observedGeneration") != generation or not status.get("configHash"):
            return
        key = (meta["namespace"], meta["name"])
        if self.reached.get(key, (0, 0.0))[0] != generation:
            self.reached[key] = (generation, time.monotonic())

    def done(self, key: Key, generation: int) -> float | None:
        """When ``key`` reached ``generation`` (monotonic seconds), or None when it has not."""
        reached = self.reached.get(key)
        return reached[1] if reached is not None and reached[0] >= generation else None

    async def wait(self, wanted: dict[Key, int], *, timeout: float) -> dict[Key, float]:
        """Wait until every key reached its generation; returns the moments. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            moments = {key: self.done(key, generation) for key, generation in wanted.items()}
            if all(moment is not None for moment in moments.values()):
                return {key: moment for key, moment in moments.items() if moment is not None}
            if time.monotonic() > deadline:
                missing = sum(moment is None for moment in moments.values())
                raise TimeoutError(f"{missing} of {len(wanted)} resources not reconciled within {timeout:.0f}s")
            await asyncio.sleep(0.05)


async def wait_quiet(api: Emulator, *, quiet: float, timeout: float) -> None:
    """Wait until the emulator served no request for ``quiet`` seconds (open watches excepted)."""
    deadline = time.monotonic() + timeout
    seen, since = api.mark(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the operator kept making requests for {timeout:.0f}s")
        await asyncio.sleep(0.1)
        if api.mark() != seen:
            seen, since = api.mark(), time.monotonic()


@contextlib.asynccontextmanager
async def serve() -> AsyncIterator[tuple[Emulator, Progress, str]]:
    """A fresh emulator serving the operator's kinds; yields it, its progress tracker and its URL."""
    async with Emulator() as api, kmock.Server(api):
        declare_resources(api)
        progress = Progress()
        api.listen(progress)
        yield api, progress, str(api.url).rstrip("/")
