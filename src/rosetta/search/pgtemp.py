"""A throwaway PostgreSQL server in a temporary folder (Debian's ``postgresql`` package), for the tests and
benchmarks of the PostgreSQL index: ``initdb`` + ``pg_ctl`` listening on a unix socket only, removed on exit.
PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user (else ``nobody``).

    with TempPostgres() as pg:
        Index(pg.dsn).add(results)
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here (the message says why)."""


def find_bin(name: str) -> str | None:
    """A PostgreSQL program: on PATH, else in Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True):
        if os.access(f"{d}/{name}", os.X_OK):
            return f"{d}/{name}"
    return shutil.which(name)


class TempPostgres:
    def __init__(self, user: str = "rosetta"):
        self.user = user
        self.dir: str | None = None
        self.run_as: list[str] = []

    @property
    def dsn(self) -> str:
        return f"host={self.dir} user={self.user} dbname=postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.run_as, *args], capture_output=True, text=True, timeout=120)

    def start(self) -> "TempPostgres":
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise PostgresUnavailable("PostgreSQL is not installed (initdb/pg_ctl not found; Debian: apt install postgresql)")
        self.dir = tempfile.mkdtemp(prefix="rosetta-pg-", dir="/tmp")  # short: unix socket paths are limited
        if os.geteuid() == 0:
            owner = next((u for u in ("postgres", "nobody") if _uid(u) is not None), None)
            runuser = shutil.which("runuser")
            if owner is None or runuser is None:
                raise PostgresUnavailable("running as root and no postgres/nobody user or runuser to run the server as")
            os.chmod(self.dir, 0o755)
            os.chown(self.dir, _uid(owner), -1)
            self.run_as = [runuser, "-u", owner, "--"]
        data = f"{self.dir}/data"
        r = self._run(initdb, "-D", data, "-A", "trust", "-U", self.user, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        if r.returncode:
            self.stop()
            raise PostgresUnavailable(f"initdb failed: {(r.stderr or r.stdout).strip()[-400:]}")
        r = self._run(pg_ctl, "-D", data, "-l", f"{self.dir}/log", "-w", "-t", "60", "start", "-o",
                      f"-k {self.dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off")
        if r.returncode:
            tail = Path(f"{self.dir}/log").read_text()[-400:] if Path(f"{self.dir}/log").exists() else r.stderr
            self.stop()
            raise PostgresUnavailable(f"pg_ctl start failed: {tail.strip()}")
        return self

    def stop(self) -> None:
        if self.dir is None:
            return
        pg_ctl = find_bin("pg_ctl")
        if pg_ctl and Path(f"{self.dir}/data/postmaster.pid").exists():
            self._run(pg_ctl, "-D", f"{self.dir}/data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> "TempPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _uid(user: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


__all__ = ["TempPostgres", "PostgresUnavailable", "find_bin"]
