"""Watching the databases: runs logged (and counted) as they are saved, storage errors counted.

``observe_opener`` wraps the database opener the app starts with, so every open database is
wrapped once, whatever backend. ``sessions.save_run`` hands the run to ``run_log.log_run`` once
the save is done (or failed: the run then ended in error) and, when metrics are kept, to
``RuntimeMetrics.observe_run``, once per run (``_RunSaves``): a run whose save failed is counted
as ``error``, as its client and its log line are told, and the attempts to save it again are not
counted; the record a background run is stored with as it starts (``RUNNING``) is neither logged
nor counted, nor is a paused run until its final save (it is logged as paused). With
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
from agentos_runtime.observability.run_log import has_ended, is_paused, log_paused, log_run
from agentos_runtime.observability.runtime_metrics import RuntimeMetrics
from agentos_runtime.storage.ports import Database

Opener = Callable[..., Awaitable[Database]]
# The error type of a run whose save failed because the database was unavailable (as its RunError says).
UNSAVED_ERROR_TYPE = "storage_unavailable"
# The status a run whose save failed is counted under: it ended in error, whatever its record says.
UNSAVED_STATUS = "error"
# Run ids whose failed save was told, kept so that the attempts to save them again are not (a
# background run's save is tried again for minutes at most; far more runs than run at once).
_FAILED_KEPT = 4096


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
        if operation == "sessions.save_run":
            return _RunSaves(method, db_id=db_id, metrics=metrics).save
        if metrics is None:
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except StorageUnavailable:
                metrics.count_storage_error(db_id, operation)
                raise

        return call


class _RunSaves:
    """``sessions.save_run`` logging and counting each run once, as it is saved for the last time.

    A run saved as it starts (``RUNNING``) or as it pauses (``PAUSED``: it goes on when continued,
    and its final save holds the model requests made before the pause) is not counted; a paused
    one is logged as paused. A save that fails logs and counts the run as ended in error (its
    client was told so); a background run's save is then tried again (``Lifecycle``), and those
    attempts, failed or not, neither log nor count it again.
    """

    def __init__(self, save_run: Callable[..., Awaitable[Any]], *, db_id: str, metrics: RuntimeMetrics | None) -> None:
        self._save_run = save_run
        self._db_id = db_id
        self._metrics = metrics
        self._failed: dict[str, None] = {}  # run ids whose save failed, told already (oldest first)

    async def save(self, *args: Any, **kwargs: Any) -> Any:
        run = _saved_run(args, kwargs)
        run_id = str(run.get("run_id"))
        told = run_id in self._failed
        try:
            saved = await self._save_run(*args, **kwargs)
        except StorageUnavailable as error:
            if self._metrics is not None:
                self._metrics.count_storage_error(self._db_id, "sessions.save_run")
            self._unsaved(run, told, (UNSAVED_ERROR_TYPE, f"the run could not be saved: {error.detail}"))
            raise
        except Exception as error:  # its text may quote stored values: the type says enough
            self._unsaved(run, told, (type(error).__name__, "the run could not be saved"))
            raise
        if told:  # saved on a later attempt: told once already, as it ended for its client
            self._failed.pop(run_id, None)
        elif is_paused(run):
            log_paused(run)
        elif has_ended(run):
            log_run(run)
            if self._metrics is not None:
                self._metrics.observe_run(run)
        return saved

    def _unsaved(self, run: Any, told: bool, why: tuple[str, str]) -> None:
        if told or not has_ended(run):  # a start record that failed: the run's final save tells
            return
        self._failed[str(run.get("run_id"))] = None
        if len(self._failed) > _FAILED_KEPT:
            del self._failed[next(iter(self._failed))]
        log_run(run, unsaved=why)
        if self._metrics is not None:
            self._metrics.observe_run(run, status=UNSAVED_STATUS)


def _saved_run(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The run argument of ``save_run(new, run, *, session_state)``."""
    return args[1] if len(args) > 1 else kwargs["run"]


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
