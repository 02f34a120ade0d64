"""A SQLite database file removed or replaced while the runtime has it open.

A connection keeps the file it opened. Removed from its path (its directory deleted, a volume
remounted), the file lives on for the connection, which goes on reading and writing it, all of
it lost at the next start; replaced by another file, the connection goes on with the old one.
And connecting to a path where the file is gone makes a new empty one, without tables.

``SqliteFile`` is the check every connection to a database file makes, whichever path uses it
(the run path's ``SqliteExecutor``, SQLAlchemy's pool in ``connecting``): a connection whose
file is no longer at the path is closed (``is_open_on``), and connecting again is refused with
``StorageUnavailable`` naming the file while none is there (``before_connect``), so a file put
back at the path is the one opened next.
"""

from __future__ import annotations

import os
from pathlib import Path

from agentos_runtime.errors import StorageUnavailable

# The device and inode of a file: what stays the same while it is the same file.
FileIdentity = tuple[int, int]


def identity(path: Path) -> FileIdentity | None:
    """The identity of the file at ``path``; ``None`` when there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


class SqliteFile:
    """The database file at ``path``, as the connections of database ``db_id`` opened it."""

    def __init__(self, path: Path, *, db_id: str) -> None:
        self.path = path
        self.db_id = db_id
        self._opened_once = False

    def before_connect(self) -> None:
        """Raise ``StorageUnavailable`` when a file was opened at the path and none is there
        now: connecting would make an empty one in its place."""
        if self._opened_once and identity(self.path) is None:
            raise StorageUnavailable(
                f"database '{self.db_id}': the file {self.path} was removed while in use: "
                "restore it, or restart the runtime to start a new one"
            )

    def connected(self) -> FileIdentity | None:
        """The identity of the file a connection has just opened, for ``is_open_on``."""
        found = identity(self.path)
        if found is not None:
            self._opened_once = True
        return found

    def is_open_on(self, opened: FileIdentity | None) -> bool:
        """Whether the file a connection opened (``connected``'s answer) is still the one at
        the path: ``False`` when it was removed or replaced, and the connection must be closed."""
        return opened is not None and identity(self.path) == opened
