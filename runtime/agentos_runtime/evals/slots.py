"""How many evals one replica runs at once: ``AGENTOS_MAX_EVAL_RUNS``, refused beyond that.

An eval holds its request open while it makes many model calls (each accuracy iteration runs
the target and asks the judge), so a client or a script starting hundreds at once would spend
the replica's tokens and memory on all of them. An eval takes a slot before it calls any model
and gives it back when it ends, whichever way; without a free slot it is refused with ``Busy``
(503 and ``Retry-After``) before anything runs or is stored. The process's one event loop is
the only one taking slots: no lock is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from agentos_runtime.errors import Busy

# What a refused client should wait before trying again: an eval runs for seconds to minutes
# (several model calls per iteration), so trying again sooner would mostly be refused again.
RETRY_AFTER_SECONDS = 10


@dataclass
class EvalSlots:
    """The replica's eval slots: ``limit`` of them, ``held`` taken by evals in flight."""

    limit: int
    held: int = 0

    def take(self) -> None:
        """Take a slot; ``Busy`` (taking nothing) when all ``limit`` are held."""
        if self.held >= self.limit:
            raise Busy(
                f"{self.limit} evals are already running on this replica (AGENTOS_MAX_EVAL_RUNS): "
                "try again once one has ended",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self.held += 1

    def release(self) -> None:
        """Give back a slot taken with ``take``."""
        self.held -= 1

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Hold a slot for the block, given back however it ends; ``Busy`` before the block runs."""
        self.take()
        try:
            yield
        finally:
            self.release()
