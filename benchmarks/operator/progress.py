"""When each AgentOSConfig's status caught up with its generation, and when it turned Ready.

Fed by whatever event stream the API server under test offers: the emulator's listener, or a
watch on a real API server. Only the moment matters, so every object seen is judged on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

Key = tuple[str, str]


def condition(status: Mapping[str, Any], type_: str) -> str | None:
    """The status ("True", "False", "Unknown") of the condition ``type_``, or None when absent."""
    for entry in status.get("conditions") or []:
        if entry.get("type") == type_:
            return str(entry.get("status"))
    return None


class Progress:
    """Per resource, the first moment its status reached each generation, reconciled and Ready.

    Reconciled: the status observed the generation and carries a config hash (the operator writes
    both only after applying every child). Ready: the same, with ``Ready`` True and ``Progressing``
    False, i.e. the Deployment of that generation is rolled out and available; only a real
    cluster, whose controllers and (fake) nodes run the pods, ever gets there.
    """

    def __init__(self) -> None:
        self.reached: dict[Key, tuple[int, float]] = {}
        self.ready: dict[Key, tuple[int, float]] = {}
        # How often a resource's Ready went from True to False: what its users saw of a rollout.
        self.drops = 0
        self._last_ready: dict[Key, str | None] = {}

    def observe(self, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        status = body.get("status") or {}
        key = (meta["namespace"], meta["name"])
        ready_now = condition(status, "Ready")
        if self._last_ready.get(key) == "True" and ready_now == "False":
            self.drops += 1
        self._last_ready[key] = ready_now
        generation = meta.get("generation")
        if status.get("observedGeneration") != generation or not status.get("configHash"):
            return
        now = time.monotonic()
        if self.reached.get(key, (0, 0.0))[0] != generation:
            self.reached[key] = (generation, now)
        settled = ready_now == "True" and condition(status, "Progressing") == "False"
        if settled and self.ready.get(key, (0, 0.0))[0] != generation:
            self.ready[key] = (generation, now)

    def done(self, key: Key, generation: int, *, ready: bool = False) -> float | None:
        """When ``key`` reached ``generation`` (monotonic seconds), or None when it has not."""
        reached = (self.ready if ready else self.reached).get(key)
        return reached[1] if reached is not None and reached[0] >= generation else None

    async def wait(self, wanted: dict[Key, int], *, timeout: float, ready: bool = False) -> dict[Key, float]:
        """Wait until every key reached its generation (and Ready, if asked); returns the moments.

        Raises TimeoutError.
        """
        deadline = time.monotonic() + timeout
        what = "Ready" if ready else "reconciled"
        while True:
            moments = {key: self.done(key, generation, ready=ready) for key, generation in wanted.items()}
            if all(moment is not None for moment in moments.values()):
                return {key: moment for key, moment in moments.items() if moment is not None}
            if time.monotonic() > deadline:
                missing = sum(moment is None for moment in moments.values())
                raise TimeoutError(f"{missing} of {len(wanted)} resources not {what} within {timeout:.0f}s")
            await asyncio.sleep(0.05)
