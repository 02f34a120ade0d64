"""One time bound per PostgreSQL storage operation, so a server that stops answering fails the
caller with ``StorageUnavailable`` instead of holding it for ever.

Two layers. The server bounds what it does itself: each connection is opened with
``statement_timeout`` and ``lock_timeout`` set to the database's ``timeout_seconds``
(``server_options``), so a statement kept waiting by another client's lock, or running too
long, is cancelled by the server: its transaction is rolled back and the connection stays
usable. A server that answers nothing at all (a partition, a frozen host or proxy) cannot cancel
anything, and neither can a cancel request sent to it; so each operation also has a client-side
deadline, ``GRACE_SECONDS`` later (``Deadline``): when it passes, the sockets of the
connections the operation holds are shut down (the pending read fails at once, the connection
is thrown away, and the server rolls back what it had not committed once it sees the
connection end; a write whose last message was already sent, the save's single one or a
``COMMIT``, may still be applied once the server gets it: a run's save is an upsert, harmless
again), and an operation that holds none yet (waiting for the pool, connecting) is cancelled.
Either way the caller gets ``StorageUnavailable`` saying the database did not answer in time,
naming it by its id only. A cancellation from elsewhere (a client gone, a run
cancelled, a shutdown) stays a cancellation, even one that arrives after the deadline passed.

A connection taken for an operation is watched with ``watch`` (both pools do it as they hand one
out) and forgotten with ``forget`` as it is given back, so a deadline never cuts a connection
another operation has since taken.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from agentos_runtime.errors import StorageUnavailable

# How long past the server's own timeouts the client waits for the server's answer before
# giving the connection up: a server that answers at all has cancelled the statement by then.
GRACE_SECONDS = 1.0

_current: ContextVar[Deadline | None] = ContextVar("agentos_storage_deadline", default=None)


def server_options(timeout_seconds: float, url: str, pgoptions: str | None = None) -> str:
    """libpq's ``options`` setting the server-side bounds of every statement of a connection,
    followed by those of ``url`` (its ``options`` parameter), or else ``pgoptions`` (the
    ``PGOPTIONS`` variable, which libpq reads only when no ``options`` is given): theirs win.

    The lock timeout is a little shorter, so a statement kept waiting by a lock is cancelled for
    that (and says so) before the statement timeout would cancel it for its time. A transaction
    left idle as long is ended by the server: ours never wait between their statements, so it is
    one whose client was cut off by a partition (the end of its connection never arrived), and
    its row locks would otherwise stay until the server's TCP keepalives give up (hours)."""
    from psycopg.conninfo import conninfo_to_dict

    milliseconds = max(2, round(timeout_seconds * 1000))
    ours = (
        f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds * 9 // 10} "
        f"-c idle_in_transaction_session_timeout={milliseconds}"
    )
    theirs = conninfo_to_dict(url.replace("postgresql+psycopg://", "postgresql://", 1)).get("options") or pgoptions
    return f"{ours} {theirs}" if theirs else ours


def client_seconds(timeout_seconds: float) -> float:
    """How long one operation may take on the client before its connections are cut."""
    return timeout_seconds + GRACE_SECONDS


def did_not_answer(db_id: str, timeout_seconds: float) -> StorageUnavailable:
    return StorageUnavailable(
        f"database '{db_id}' is unavailable: it did not answer within {client_seconds(timeout_seconds):g} s "
        "(its timeout_seconds and a grace)"
    )


def has_news(fd: int) -> bool:
    """Whether the server sent something to a connection that was idle: only ever the notice
    that it ended it, or the end of the stream (polled, not waited for). ``poll``, not
    ``select``: a busy process has descriptors past 1024, which ``select`` refuses."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def watch(connection: object, fd: int) -> None:
    """``connection`` (its socket ``fd``) now serves the current operation, if it has a deadline."""
    deadline = _current.get()
    if deadline is not None:
        deadline.watch(connection, fd)


def forget(connection: object) -> None:
    """``connection`` no longer serves the current operation."""
    deadline = _current.get()
    if deadline is not None:
        deadline.forget(connection)


class Deadline:
    """``async with Deadline(db_id, timeout_seconds):`` bounds the operation inside it (see the
    module's docstring); ``timeout_seconds`` ``None``: no bound."""

    def __init__(self, db_id: str, timeout_seconds: float | None) -> None:
        self._db_id = db_id
        self._timeout = timeout_seconds
        self._held: dict[int, socket.socket] = {}
        self.expired = False
        self._cancelled = False
        self._task: asyncio.Task[Any] | None = None
        # The task's count of cancellations requested when the operation began.
        self._cancelling = 0
        self._handle: asyncio.TimerHandle | None = None
        self._token: Any = None

    async def __aenter__(self) -> Deadline:
        if self._timeout is None:
            return self
        self._task = asyncio.current_task()
        assert self._task is not None
        self._cancelling = self._task.cancelling()
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(client_seconds(self._timeout), self._expire)
        self._token = _current.set(self)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        if self._timeout is None:
            return
        assert self._handle is not None and self._task is not None
        self._handle.cancel()
        _current.reset(self._token)
        for held in self._held.values():
            held.close()
        self._held.clear()
        # Ours taken back; a cancellation left beyond what the task had when the operation began
        # is someone else's (a client gone, a shutdown, an outer bound).
        others = self._task.uncancel() > self._cancelling if self._cancelled else True
        if isinstance(error, asyncio.CancelledError) and others:
            return  # their cancellation goes on, even one arriving after the deadline passed
        if self.expired and error is not None:
            raise did_not_answer(self._db_id, self._timeout) from error

    def watch(self, connection: object, fd: int) -> None:
        # A duplicate of the socket: shutting it down ends the connection whatever became of the
        # descriptor the driver holds (closed, even reused for something else).
        try:
            held = socket.socket(fileno=os.dup(fd))
        except OSError:
            # No descriptor left (the process's limit): not watched, so a deadline passing
            # cancels the operation instead (the driver's own cancel then ends the statement).
            return
        self._held[id(connection)] = held
        if self.expired:
            _cut(held)

    def forget(self, connection: object) -> None:
        held = self._held.pop(id(connection), None)
        if held is not None:
            held.close()

    def _expire(self) -> None:
        self.expired = True
        if self._held:
            for held in self._held.values():
                _cut(held)
        elif self._task is not None:
            self._cancelled = True
            self._task.cancel()


def _cut(held: socket.socket) -> None:
    try:
        held.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer
