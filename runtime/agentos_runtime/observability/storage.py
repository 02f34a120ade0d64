"""Watching the databases: runs logged (and counted) as they are saved, storage errors counted.

``observe_opener`` wraps the database opener the app starts with, so every open database is
wrapped once, whatever backend. ``sessions.save_run`` hands the run to ``run_log.log_run`` once
the save is done (or failed: the run then ended in error) and, when metrics are kept, to
``RuntimeMetrics.observe_run``: every run is saved exactly once when it ends (a run whose save
failed is counted as ``error``, as its client and its log line are told); the record a
background run is stored with as it starts (``RUNNING``) is neither logged nor counted. With
metrics, each coroutine method of the ``Database`` and of each of its stores (every attribute the
``Database`` port types as a store, so a store added to the port is watched too) also counts a
``StorageUnavailable`` under ``<store>.<method>`` and re-raises it; without, every other method
is the store's own. Other attributes pass through untouched.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any, cast, get_type_hints

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.observability.run_log import has_ended, log_run
from agentos_runtime.observability.runtime_metrics import RuntimeMetrics
from agentos_runtime.storage.ports import Database

Opener = Callable[..., Awaitable[Database]]
# The error type of a run whose save failed because the database was unavailable (as its RunError says).
UNSAVED_ERROR_TYPE = "storage_unavailable"
# The status a run whose save failed is counted under: it ended in error, whatever its record says.
UNSAVED_STATUS = "error"


@cache
def store_names() -> tuple[str, ...]:
    """The attributes of the ``Database`` port whose type is a store protocol."""
    hints = get_type_hints(Database)
    return tuple(name for name, kind in hints.items() if getattr(kind, "_is_protocol", False))


class _Watched:
    """Forwards attribute reads to ``target``; ``save_run`` logs, coroutine methods count storage errors."""

    def __init__(self, target: Any, *, prefix: str, db_id: str, metrics: RuntimeMetrics | None) -> None:
        self._target = target
        self._prefix = prefix
        self._db_id = db_id
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute
        watched = self._watch(name, attribute)
        setattr(self, name, watched)  # later reads find it without coming back here
        return watched

    def _watch(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        operation = f"{self._prefix}{name}"
        metrics, db_id = self._metrics, self._db_id
        saves_runs = operation == "sessions.save_run"
        target = _logging_runs(method) if saves_runs else method
        if metrics is None:
            return target
        observe_run = metrics.observe_run if saves_runs else None

        async def call(*args: Any, **kwargs: Any) -> Any:
            unsaved = True
            try:
                result = await target(*args, **kwargs)
                unsaved = False
                return result
            except StorageUnavailable:
                metrics.count_storage_error(db_id, operation)
                raise
            finally:
                if observe_run is not None and has_ended(_saved_run(args, kwargs)):
                    observe_run(_saved_run(args, kwargs), status=UNSAVED_STATUS if unsaved else None)

        return call


def _saved_run(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The run argument of ``save_run(new, run, *, session_state)``."""
    return args[1] if len(args) > 1 else kwargs["run"]


def _logging_runs(save_run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``save_run`` logging the run once saved, or as failed by the save (nothing was stored then)."""

    async def call(*args: Any, **kwargs: Any) -> Any:
        run = _saved_run(args, kwargs)
        if not has_ended(run):  # a background run stored as it starts: its final save logs it
            return await save_run(*args, **kwargs)
        try:
            saved = await save_run(*args, **kwargs)
        except StorageUnavailable as error:
            log_run(run, unsaved=(UNSAVED_ERROR_TYPE, f"the run could not be saved: {error.detail}"))
            raise
        except Exception as error:  # its text may quote stored values: the type says enough
            log_run(run, unsaved=(type(error).__name__, "the run could not be saved"))
            raise
        log_run(run)
        return saved

    return call


def observe_database(database: Database, *, db_id: str, metrics: RuntimeMetrics | None) -> Database:
    """``database`` with its saved runs logged (and counted) and, with ``metrics``, its storage errors counted."""
    watched = _Watched(database, prefix="", db_id=db_id, metrics=metrics)
    for name in store_names():
        store = _Watched(getattr(database, name), prefix=f"{name}.", db_id=db_id, metrics=metrics)
        setattr(watched, name, store)
    return cast(Database, watched)


def observe_opener(open_database: Opener, *, metrics: RuntimeMetrics | None) -> Opener:
    """An opener giving watched databases; a database that cannot be opened counts under ``open``."""

    async def opening(config: Any, **kwargs: Any) -> Database:
        try:
            database = await open_database(config, **kwargs)
        except StorageUnavailable:
            if metrics is not None:
                metrics.count_storage_error(config.id, "open")
            raise
        return observe_database(database, db_id=config.id, metrics=metrics)

    return opening
