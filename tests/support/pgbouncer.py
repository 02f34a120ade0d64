"""A PgBouncer of a test's own, in transaction mode, in front of a PostgreSQL server the shared
one of ``scripts/services.sh`` does not front (the pgvector server of ``pgvector_server``).

It runs the ``pgbouncer`` that ``scripts/services.sh`` installs, as the user owning the server's
socket directory when the tests run as root (PgBouncer refuses to run as root), listening on a
free port of 127.0.0.1, with the settings of that one (``scripts/pgbouncer.ini.in``) but its own
pool size. A PgBouncer that cannot start fails the test that needed it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from string import Template

from psycopg.conninfo import conninfo_to_dict

PGBOUNCER = "/usr/sbin/pgbouncer"
# The settings it shares with the PgBouncer of ``scripts/services.sh``, ``${name}`` to fill in.
SETTINGS = Path(__file__).resolve().parents[2] / "scripts" / "pgbouncer.ini.in"
START_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def pgbouncer_before(url: str, *, pool_size: int) -> Iterator[str]:
    """The URL of a new PgBouncer (``pool_size`` server connections, transaction pooling) in front
    of the server a Unix-socket ``url`` names; stopped at the end. Its files are in a directory of
    its own under the system's temporary one (a test's ``tmp_path`` is not open to its user)."""
    target = conninfo_to_dict(url)
    socket_dir = Path(str(target["host"]))
    user = str(target.get("user") or "postgres")
    dbname = str(target.get("dbname") or "postgres")
    binary = shutil.which("pgbouncer") or PGBOUNCER
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="agentos-pgbouncer-"))
    (workdir / "users.txt").write_text(f'"{user}" ""\n')
    settings = Template(SETTINGS.read_text()).substitute(
        dbname=dbname,
        server_host=socket_dir,
        server_port=target.get("port") or 5432,
        listen_port=port,
        auth_file=workdir / "users.txt",
        logfile=workdir / "pgbouncer.log",
        pidfile=workdir / "pgbouncer.pid",
    )
    # The pool size is this one's own (the shared one keeps PgBouncer's default): it closes the
    # template's last section, [pgbouncer].
    (workdir / "pgbouncer.ini").write_text(f"{settings}default_pool_size = {pool_size}\n")
    command = [binary]
    if os.geteuid() == 0:
        owner = socket_dir.stat().st_uid
        for path in (workdir, *workdir.iterdir()):
            os.chown(path, owner, -1)
        command += ["-u", pwd.getpwuid(owner).pw_name]
    process = subprocess.Popen([*command, str(workdir / "pgbouncer.ini")], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(port):
            if time.monotonic() > deadline:
                process.kill()
            if process.poll() is not None:
                said = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"PgBouncer did not start on 127.0.0.1:{port}: {said.strip()}")
            time.sleep(0.05)
        yield f"postgresql://{user}@127.0.0.1:{port}/{dbname}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
