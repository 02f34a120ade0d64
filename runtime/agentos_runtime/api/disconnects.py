"""Work a request waits for, stopped when its client goes away.

The server does not cancel a request's handler when its client disconnects: a handler that
waits on long work (an eval's model calls) would go on to the end for nobody. Once the body
has been read, the request's next ASGI message is ``http.disconnect``, and it comes only when
the client closes its connection (or after the answer is sent, which this never waits for).
The middleware pass ``receive`` through unchanged once the body is complete, so waiting for
that message here reads nothing a route still needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect
from starlette.types import Receive

T = TypeVar("T")


async def unless_disconnected(work: Coroutine[Any, Any, T], receive: Receive) -> T:
    """The result of ``work``, run in a task of its own, raced against the client's disconnect.

    Call it once the request's body is read. When the client disconnects first, ``work`` is
    cancelled and awaited (whatever it holds is given back before this returns) and
    ``ClientDisconnect`` is raised: there is nobody left to answer. Cancelling this call
    cancels ``work`` too.
    """
    loop = asyncio.get_running_loop()
    task = loop.create_task(work)
    watcher = loop.create_task(_disconnect(receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped = not task.done()
        task.cancel()
        watcher.cancel()
        await asyncio.wait((task, watcher))  # both have ended before this returns or raises
    if not stopped:  # the work ended on its own, even if the client left meanwhile: its outcome stands
        return task.result()
    failed = watcher.exception()
    if failed is not None:
        raise failed
    raise ClientDisconnect()


async def _disconnect(receive: Receive) -> None:
    """Return at the client's disconnect (any other message, of a body already read, is skipped)."""
    while (await receive())["type"] != "http.disconnect":
        pass
