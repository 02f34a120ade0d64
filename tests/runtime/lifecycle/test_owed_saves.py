"""A run stored as it started whose final save failed keeps its lease while its replica owes that save.

Each test runs once per kind of run (agent, team, workflow) and per storage backend (SQLite,
PostgreSQL, Redis): a background run is stored ``RUNNING`` as it starts, its model held until
the test lets it end while the database refuses writes (``FlakySessions``). What a reader shows
is ``settled_runs`` over the stored session, as the run routes show it. Time is the registry's,
moved by the test (``VirtualTime``): nothing sleeps; the test waits for the writes it expects
and for the replica's waits to be back in place before moving time on. A final save can be held
in flight (``Hold``) while the run's task is cancelled, as a client going away or a server
stopping cancels it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.runs import RunRegistry, RunRequest
from agentos_runtime.runs.leases import LOST, settled_runs, with_lease
from agentos_runtime.runs.lifecycle import read_back
from agentos_runtime.storage.ports import JSON, SessionRow, SessionStore

from tests.runtime.engine.fakes import FakeChatModel, held
from tests.runtime.lifecycle.kinds import AGENT, DEADLINE, TEAM, Kind
from tests.runtime.lifecycle.test_lifecycle_guards import RecordingMemory
from tests.support.databases import fresh_database

START = 1_800_000_000.0
Outcome = Literal["landed", "refused", "failed"]


class Changes:
    """Lets the test wait until what it watches holds, woken at each change (no polling)."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def changed(self) -> None:
        self._changed.set()

    async def until(self, holds: Callable[[], bool]) -> None:
        async with asyncio.timeout(DEADLINE):
            while not holds():
                self._changed.clear()
                await self._changed.wait()


class VirtualTime:
    """The registry's time: Unix seconds moved only by the test, and sleeps that end once passed."""

    def __init__(self) -> None:
        self.now = START
        self._sleeps: list[tuple[float, asyncio.Future[None]]] = []
        self._changes = Changes()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        self._sleeps.append((self.now + seconds, wake))
        self._changes.changed()
        try:
            await wake
        finally:  # passed, or cut short (the wait it served ended otherwise)
            self._changes.changed()

    def advance_to(self, seconds: float) -> None:
        """Now is ``seconds`` after the start: every sleep due by then ends."""
        self.now = START + seconds
        for due, wake in self._sleeps:
            if due <= self.now and not wake.done():
                wake.set_result(None)
        self._sleeps = [(due, wake) for due, wake in self._sleeps if not wake.done()]

    async def sleeping(self, count: int) -> None:
        """Wait until exactly ``count`` sleeps are pending: the replica's tasks wait for time to pass."""
        await self._changes.until(lambda: sum(not wake.done() for _, wake in self._sleeps) == count)


class Hold:
    """Holds the writes that reach it until the test lets them go: the test acts while one is in flight."""

    def __init__(self) -> None:
        self._reached = asyncio.Event()
        self._released = asyncio.Event()

    async def through(self) -> None:
        self._reached.set()
        await self._released.wait()

    async def reached(self) -> None:
        await asyncio.wait_for(self._reached.wait(), DEADLINE)

    def release(self) -> None:
        self._released.set()


@dataclass(frozen=True)
class Write:
    """One write the lifecycle asked of the store: which, the status it wrote, how it went, when."""

    name: str
    status: str
    outcome: Outcome
    at: float


class FlakySessions:
    """A real session store whose writes named in ``refusing`` fail as a database away does
    (``get_session`` too when named there: a read, not logged in ``writes``).

    ``lost_answer``: ``save_run`` writes, then fails as if the answer to its commit were lost.
    ``final_saves``: a ``save_run`` of an ended run waits on it before it writes (or fails).
    ``refusing_values``: ``save_run`` of an ended run fails as a store refusing a value does.
    Every write is logged in ``writes``, times read from ``time``.
    """

    def __init__(self, inner: SessionStore, time: VirtualTime) -> None:
        self.inner, self.time = inner, time
        self.refusing: frozenset[str] = frozenset()
        self.lost_answer = False
        self.final_saves: Hold | None = None
        self.refusing_values = False
        self.writes: list[Write] = []
        self._changes = Changes()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def get_session(self, session_id: str, **filters: Any) -> SessionRow | None:
        if "get_session" in self.refusing:
            raise StorageUnavailable("database 'db' is away for a moment")
        return await self.inner.get_session(session_id, **filters)

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        if self.final_saves is not None and run.get("status") != "RUNNING":
            await self.final_saves.through()

        async def write() -> SessionRow:
            if self.refusing_values and run.get("status") != "RUNNING":
                raise ValueError("a value the database refuses")
            saved = await self.inner.save_run(new, run, session_state=session_state)
            if self.lost_answer:
                raise StorageUnavailable("database 'db' went away before it answered")
            return saved

        return await self._logged("save_run", run, write, landed=lambda _: True)

    async def replace_run(self, session_id: str, run: JSON, *, status: str, events: int | None = None) -> bool:
        async def write() -> bool:
            return await self.inner.replace_run(session_id, run, status=status, events=events)

        return await self._logged("replace_run", run, write, landed=bool)

    async def _logged(self, name: str, run: JSON, write: Callable[[], Any], *, landed: Callable[[Any], bool]) -> Any:
        at = self.time.now - START
        outcome: Outcome = "failed"
        try:
            if name in self.refusing:
                raise StorageUnavailable("database 'db' is away for a moment")
            result = await write()
            outcome = "landed" if landed(result) else "refused"
            return result
        finally:
            self.writes.append(Write(name, str(run.get("status")), outcome, at))
            self._changes.changed()

    async def written(self, count: int) -> list[Write]:
        """The writes, once there are ``count``."""
        await self._changes.until(lambda: len(self.writes) >= count)
        return self.writes


AWAY = frozenset({"save_run", "replace_run"})


@dataclass(frozen=True)
class Replica:
    """One replica running one background run ``r1`` in session ``s1``, held in its model (``gate``)."""

    kind: Kind
    time: VirtualTime
    registry: RunRegistry
    store: FlakySessions
    gate: asyncio.Event
    runnable: Any

    async def end_run(self) -> None:
        """Let the model answer; the run ends and its final save is tried."""
        self.gate.set()
        assert await self.registry.settle_background_runs(timeout=DEADLINE)

    async def cancel_task(self) -> None:
        """Cancel the run's task, as a client going away or a server stopping does, and wait until it ended."""
        handle = self.registry.running("r1")
        assert handle is not None and handle.task is not None
        handle.task.cancel()
        assert await self.registry.settle_background_runs(timeout=DEADLINE)

    async def end_run_cancelled_while_saving(self) -> Hold:
        """Let the model answer; once the run's final save is in flight, cancel the run's task.
        The save stays held until the test releases it."""
        self.store.final_saves = hold = Hold()
        self.gate.set()
        await hold.reached()
        await self.cancel_task()
        return hold

    async def away_until_62_s(self) -> list[Write]:
        """With the database away (its failed final save written): the lease's renewals at 20 and
        40 s fail; the database is back, the run still shown ``RUNNING``; at 62 s, past the lease
        it last took (61 s) and long before the owed save's pause ends (90 s), a renewal lands and
        the owed save is tried at once. The writes, once there are six."""
        time, store = self.time, self.store
        for at in (20, 40):
            await time.sleeping(2)  # the owed save's pause, the lease's
            time.advance_to(at)
            await store.written(len(store.writes) + 1)
        store.refusing = frozenset()
        await time.sleeping(2)
        assert (await self.shown())["status"] == "RUNNING", "before its lease ran out"
        time.advance_to(62)
        return await store.written(6)

    async def shown(self) -> JSON:
        """The run as a reader shows it now."""
        row = await self.store.inner.get_session("s1")
        assert row is not None and row.runs
        [run] = settled_runs(row.runs, now=self.time.now)
        return run


@pytest.fixture
def metadata() -> JSON | None:
    """The run's request metadata (stored on the run)."""
    return None


@pytest.fixture
async def replica(kind: Kind, backend: str, tmp_path: Path, metadata: JSON | None) -> Any:
    time = VirtualTime()
    async with fresh_database(backend, tmp_path) as database:
        registry = RunRegistry(save_retry_delays=(90.0, 90.0), clock=time.clock, sleep=time.sleep)
        store, script = FlakySessions(database.sessions, time), held("the ", "answer")
        assert script.gate is not None
        runnable: Any = kind.build(FakeChatModel(script), store, registry)
        request = RunRequest(message="hi", session_id="s1", run_id="r1", metadata=metadata)
        await runnable.start_background(request, stream=False)
        yield Replica(kind, time, registry, store, script.gate, runnable)
        if store.final_saves is not None:  # a test that failed holding a save lets it go before the replica stops
            store.final_saves.release()
        assert await registry.shutdown(timeout=DEADLINE)


def landed(name: str, status: str, at: float) -> Write:
    return Write(name, status, "landed", at)


def failed(name: str, status: str, at: float) -> Write:
    return Write(name, status, "failed", at)


def saved_once_back(status: str) -> list[Write]:
    """The writes of ``Replica.away_until_62_s`` for a run that ended ``status``."""
    return [
        landed("save_run", "RUNNING", 0),
        failed("save_run", status, 0),
        failed("replace_run", "RUNNING", 20),
        failed("replace_run", "RUNNING", 40),
        landed("replace_run", "RUNNING", 62),
        landed("save_run", status, 62),
    ]


async def test_a_run_whose_save_is_owed_is_saved_as_the_first_renewal_lands_once_the_database_is_back(
    replica: Replica,
) -> None:
    time, store = replica.time, replica.store
    assert (await replica.shown())["status"] == "RUNNING"
    store.refusing = AWAY
    await replica.end_run()
    writes = await replica.away_until_62_s()

    assert writes == saved_once_back("COMPLETED")
    shown = await replica.shown()
    assert shown["status"] == "COMPLETED" and "lease_expires_at" not in shown
    assert replica.kind.answer_of(shown)["content"] == "the answer"
    await time.sleeping(0)  # nothing owed: the lease is no longer renewed
    time.advance_to(600)
    assert len(store.writes) == 6


@pytest.mark.parametrize("kind", [AGENT, TEAM], ids=str)
async def test_a_run_whose_owed_save_lands_later_is_then_handed_to_memory_extraction(replica: Replica) -> None:
    memory = RecordingMemory()
    replica.runnable.memory = memory
    replica.store.refusing = AWAY
    await replica.end_run()
    assert memory.handed == [], "not stored yet"

    assert await replica.away_until_62_s() == saved_once_back("COMPLETED")
    await asyncio.wait_for(memory.handed_one.wait(), DEADLINE)

    assert memory.handed == ["r1"]


async def test_a_run_whose_save_stays_refused_is_shown_running_past_its_first_lease_until_its_replica_gives_up(
    replica: Replica,
) -> None:
    time, store, registry = replica.time, replica.store, replica.registry
    registry.save_retry_delays = (90.0,) * 5
    store.refusing = frozenset({"save_run"})  # the renewals land, the saves do not
    await replica.end_run()

    for at in (20, 40, 60, 80, 100):  # the lease (60 s) is renewed every 20 s; the first ran out at 61 s
        await time.sleeping(2)
        time.advance_to(at)
        await store.written(len(store.writes) + 2)  # a renewal, then the owed save tried at once
        shown = await replica.shown()
        assert shown["status"] == "RUNNING", f"shown {shown['status']} at {at} s while its replica still tries"

    assert [(write.name, write.outcome) for write in store.writes[-2:]] == [
        ("replace_run", "landed"),
        ("save_run", "failed"),
    ]
    await time.sleeping(0)  # tried after each of its five pauses: given up, its lease left to run out
    time.advance_to(162)  # the last renewal, at 100 s, held it to 161 s
    shown = await replica.shown()
    assert (shown["status"], shown["content"]) == ("ERROR", LOST)
    assert len(store.writes) == 12


async def test_a_run_cancelled_while_the_database_is_away_is_saved_cancelled_once_it_is_back(
    replica: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    time, store = replica.time, replica.store
    store.refusing = AWAY
    with caplog.at_level(logging.WARNING, logger="agentos_runtime.runs.lifecycle"):
        await replica.cancel_task()  # in its model: the caller went away, the run is saved in the background
        await store.written(2)
        await time.sleeping(2)  # the owed save's pause, the lease's: the failure is settled
    [told] = [record.getMessage() for record in caplog.records if "could not be saved" in record.getMessage()]
    assert told.endswith("; it is tried again")
    writes = await replica.away_until_62_s()

    assert writes == saved_once_back("CANCELLED")
    shown = await replica.shown()
    assert shown["status"] == "CANCELLED" and "lease_expires_at" not in shown
    await time.sleeping(0)
    time.advance_to(600)
    assert len(store.writes) == 6


async def test_an_owed_save_that_landed_after_all_is_not_written_again(
    replica: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    time, store = replica.time, replica.store
    store.lost_answer = True  # the final save lands, but the replica is told it failed
    await replica.end_run()
    store.lost_answer = False
    await time.sleeping(2)

    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs.lifecycle"):
        time.advance_to(20)
        writes = await store.written(3)
        assert writes[-1] == Write("replace_run", "RUNNING", "refused", 20)
        await time.sleeping(0)  # the start record is gone: nothing left to replace, nor to renew
        assert await replica.registry.shutdown(timeout=DEADLINE)

    [read_back] = [record.getMessage() for record in caplog.records if "saved after all" in record.getMessage()]
    assert read_back.startswith("run r1 of ")
    time.advance_to(600)
    assert [write.name for write in store.writes] == ["save_run", "save_run", "replace_run"]
    assert (await replica.shown())["status"] == "COMPLETED"


@pytest.mark.parametrize("kind", [AGENT, TEAM], ids=str)
async def test_an_owed_save_that_landed_after_all_is_handed_to_memory_extraction_once(
    replica: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    time, store = replica.time, replica.store
    memory = RecordingMemory()
    replica.runnable.memory = memory
    store.lost_answer = True  # the final save lands, but the replica is told it failed
    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs.lifecycle"):
        await replica.end_run()
        store.lost_answer = False
        assert memory.handed == [], "told its save failed"
        await time.sleeping(2)
        time.advance_to(20)
        assert (await store.written(3))[-1] == Write("replace_run", "RUNNING", "refused", 20)
        await asyncio.wait_for(memory.handed_one.wait(), DEADLINE)
        assert await replica.registry.shutdown(timeout=DEADLINE)  # everything it started has ended

    assert memory.handed == ["r1"]
    assert any("saved after all" in record.getMessage() for record in caplog.records)
    assert len(store.writes) == 3


@pytest.mark.parametrize("metadata", [{"amount": 1e23}])
@pytest.mark.parametrize("kind", [AGENT, TEAM], ids=str)
async def test_an_owed_save_that_landed_after_all_holding_a_float_jsonb_spells_otherwise_is_handed_to_memory_extraction(
    replica: Replica,
) -> None:
    """PostgreSQL reads the float 1e+23 back as the integer 100000000000000000000000."""
    time, store = replica.time, replica.store
    memory = RecordingMemory()
    replica.runnable.memory = memory
    store.lost_answer = True
    await replica.end_run()
    store.lost_answer = False
    await time.sleeping(2)
    time.advance_to(20)
    assert (await store.written(3))[-1] == Write("replace_run", "RUNNING", "refused", 20)
    await asyncio.wait_for(memory.handed_one.wait(), DEADLINE)
    assert await replica.registry.shutdown(timeout=DEADLINE)

    assert memory.handed == ["r1"]
    assert float((await replica.shown())["metadata"]["amount"]) == 1e23  # as the backend spells it


@pytest.mark.parametrize("kind", [AGENT, TEAM], ids=str)
async def test_an_owed_save_of_a_run_whose_session_was_deleted_meanwhile_is_not_handed_to_memory_extraction(
    replica: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    time, store = replica.time, replica.store
    memory = RecordingMemory()
    replica.runnable.memory = memory
    store.refusing = AWAY
    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs.lifecycle"):
        await replica.end_run()
        await time.sleeping(2)
        assert await store.inner.delete_sessions(["s1"]) == 1
        store.refusing = frozenset()
        time.advance_to(20)
        assert (await store.written(3))[-1] == Write("replace_run", "RUNNING", "refused", 20)
        await time.sleeping(0)  # given up: nothing renewed, nothing tried again
        assert await replica.registry.shutdown(timeout=DEADLINE)

    assert memory.handed == []
    messages = [record.getMessage() for record in caplog.records]
    assert any("no longer stored as it started" in message for message in messages)
    assert not any("saved after all" in message for message in messages)
    assert len(store.writes) == 3
    assert await store.inner.get_session("s1") is None


@pytest.mark.parametrize("kind", [AGENT, TEAM], ids=str)
async def test_an_owed_save_whose_run_cannot_be_read_back_is_given_up_without_memory_extraction(
    replica: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    time, store = replica.time, replica.store
    memory = RecordingMemory()
    replica.runnable.memory = memory
    store.lost_answer = True
    with caplog.at_level(logging.WARNING, logger="agentos_runtime.runs.lifecycle"):
        await replica.end_run()
        store.lost_answer = False
        store.refusing = frozenset({"get_session"})  # the renewal lands, the read after it does not
        await time.sleeping(2)
        time.advance_to(20)
        await store.written(3)
        await time.sleeping(0)
        assert await replica.registry.shutdown(timeout=DEADLINE)

    assert memory.handed == []
    [warned] = [record for record in caplog.records if "could not be read back" in record.getMessage()]
    assert warned.levelno == logging.WARNING and warned.exc_info is None
    assert not any(record.levelno >= logging.ERROR for record in caplog.records)
    assert len(store.writes) == 3


async def test_a_save_in_flight_as_its_run_is_cancelled_is_still_owed_when_the_database_refuses_it(
    replica: Replica,
) -> None:
    time, store = replica.time, replica.store
    hold = await replica.end_run_cancelled_while_saving()
    store.refusing = AWAY  # the database goes away while the save is in flight
    hold.release()
    await store.written(2)
    writes = await replica.away_until_62_s()

    assert writes == saved_once_back("COMPLETED")
    shown = await replica.shown()
    assert shown["status"] == "COMPLETED" and "lease_expires_at" not in shown
    assert replica.kind.answer_of(shown)["content"] == "the answer"
    await time.sleeping(0)
    time.advance_to(600)
    assert len(store.writes) == 6


async def test_a_save_in_flight_as_its_run_is_cancelled_keeps_the_lease_until_it_lands_then_releases_it(
    replica: Replica,
) -> None:
    time, store = replica.time, replica.store
    hold = await replica.end_run_cancelled_while_saving()
    await time.sleeping(1)  # the lease's wait: the save is still in flight
    time.advance_to(20)
    await store.written(2)
    hold.release()
    writes = await store.written(3)

    assert writes == [
        landed("save_run", "RUNNING", 0),
        landed("replace_run", "RUNNING", 20),
        landed("save_run", "COMPLETED", 20),
    ]
    shown = await replica.shown()
    assert shown["status"] == "COMPLETED" and "lease_expires_at" not in shown
    assert replica.kind.answer_of(shown)["content"] == "the answer"
    await time.sleeping(0)  # saved: nothing owed, the lease no longer renewed
    time.advance_to(600)
    assert len(store.writes) == 3


async def test_a_save_in_flight_as_its_run_is_cancelled_whose_value_the_store_refuses_is_logged_not_tried_again(
    replica: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    time, store = replica.time, replica.store
    hold = await replica.end_run_cancelled_while_saving()
    store.refusing_values = True
    with caplog.at_level(logging.ERROR, logger="agentos_runtime.runs.lifecycle"):
        hold.release()
        writes = await store.written(2)
        await time.sleeping(0)  # not owed: the lease is released

    assert writes == [landed("save_run", "RUNNING", 0), failed("save_run", "COMPLETED", 0)]
    [logged] = [record for record in caplog.records if "could not be saved" in record.getMessage()]
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], ValueError)
    time.advance_to(600)
    assert len(store.writes) == 2


def a_session(*runs: JSON) -> SessionRow:
    return SessionRow(session_id="s1", session_type="agent", created_at=1, runs=list(runs))


PAUSED_RUN: JSON = {"run_id": "r1", "status": "PAUSED", "events": [{"event": "RunPaused"}], "metrics": {"time": 0.25}}


def test_a_run_read_back_as_its_failed_save_would_have_stored_it_was_saved() -> None:
    other: JSON = {"run_id": "r0", "status": "COMPLETED"}
    assert read_back(a_session(other, {**PAUSED_RUN}), PAUSED_RUN) == "saved"
    as_tuples: JSON = {**PAUSED_RUN, "events": ({"event": "RunPaused"},)}  # compared as stored: JSON
    assert read_back(a_session(PAUSED_RUN), as_tuples) == "saved"


def test_a_run_read_back_absent_is_gone() -> None:
    assert read_back(None, PAUSED_RUN) == "gone"
    assert read_back(a_session(), PAUSED_RUN) == "gone"
    assert read_back(a_session({**PAUSED_RUN, "run_id": "r2"}), PAUSED_RUN) == "gone"


def test_a_run_read_back_stored_otherwise_since_was_changed() -> None:
    taken_up = with_lease({**PAUSED_RUN, "status": "RUNNING"}, now=START)
    paused_again = {**PAUSED_RUN, "events": [*PAUSED_RUN["events"], {"event": "RunContinued"}, {"event": "RunPaused"}]}
    for stored in (
        taken_up,
        {**PAUSED_RUN, "status": "PENDING"},
        {**PAUSED_RUN, "status": "COMPLETED"},
        with_lease(PAUSED_RUN, now=START),
        paused_again,
    ):
        assert read_back(a_session(stored), PAUSED_RUN) == "changed", stored


async def test_a_registry_wait_ends_as_its_seconds_pass_or_at_once_when_an_event_it_waits_on_is_set() -> None:
    time = VirtualTime()
    registry = RunRegistry(clock=time.clock, sleep=time.sleep)
    answered = asyncio.Event()

    passing = asyncio.create_task(registry.wait(20.0, answered))
    await time.sleeping(1)
    time.advance_to(19)
    await time.sleeping(1)
    assert not passing.done()
    time.advance_to(20)
    await asyncio.wait_for(passing, DEADLINE)

    cut_short = asyncio.create_task(registry.wait(20.0, answered))
    await time.sleeping(1)
    answered.set()
    await asyncio.wait_for(cut_short, DEADLINE)
    await time.sleeping(0)  # its sleep ended with it
    await asyncio.wait_for(registry.wait(20.0, answered), DEADLINE)  # set already: no wait at all


async def test_a_registry_pause_ends_once_the_registry_stops() -> None:
    time = VirtualTime()
    registry = RunRegistry(clock=time.clock, sleep=time.sleep)
    pausing = asyncio.create_task(registry.pause(60.0, until=asyncio.Event()))
    await time.sleeping(1)

    assert await registry.shutdown(timeout=DEADLINE)

    await asyncio.wait_for(pausing, DEADLINE)
    await time.sleeping(0)


def test_a_float_read_back_as_the_integer_its_decimal_spells_is_the_same_run() -> None:
    """PostgreSQL's jsonb reads 1e+23 back as 100000000000000000000000, not the float's exact value."""
    attempted: JSON = {**PAUSED_RUN, "metadata": {"amount": 1e23, "rate": [0.5, 1.5e300]}}
    read: JSON = {**PAUSED_RUN, "metadata": {"amount": 10**23, "rate": [0.5, int("15" + "0" * 299)]}}

    assert read_back(a_session(read), attempted) == "saved"
    for other in ({"amount": 10**23 * 2, "rate": [0.5, 1.5e300]}, {"amount": 10**400, "rate": [0.5, 1.5e300]}):
        assert read_back(a_session({**PAUSED_RUN, "metadata": other}), attempted) == "changed", other
    assert read_back(a_session({**PAUSED_RUN, "metadata": {"amount": True, "rate": [0.5, 1.5e300]}}), attempted) == (
        "changed"
    )
