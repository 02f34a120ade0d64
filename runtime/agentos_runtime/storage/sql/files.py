"""The SQLite file a database or a knowledge base opens, its symbolic links followed."""

from __future__ import annotations

from pathlib import Path

from agentos_runtime.errors import StorageUnavailable


def resolved_file(path: Path, db_id: str) -> Path:
    """``path`` with its symbolic links followed; ``StorageUnavailable`` naming the database, the
    file and the fix when they loop or cannot be read (the open then reports it, not a traceback)."""
    try:
        return path.resolve()
    except RuntimeError as error:  # Python 3.11's symbolic link loop (3.13 raises OSError)
        raise StorageUnavailable(
            f"database '{db_id}': cannot open {path}: its symbolic links loop: point them at a file"
        ) from error
    except OSError as error:
        raise StorageUnavailable(f"database '{db_id}': cannot open {path}: {error.strerror}") from error
