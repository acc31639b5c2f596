"""A throwaway PostgreSQL server, as a line's IT would set one up, for the registry's tests and
benchmarks/bench_registry.py: ``initdb`` and ``pg_ctl`` from Debian's ``postgresql`` package
(scripts/install-toolchains.sh installs it) in a temporary directory, listening on 127.0.0.1 at
a free port and on a Unix socket in that directory.

PostgreSQL refuses to run as root, and CI runs as root: the server then runs as the ``postgres``
user the package creates (``runuser``), with a data directory it owns. Roles: ``ooc_admin``, the
superuser, logs in over the socket without a password (the tests' own set-up); every other role
logs in with a password (SCRAM-SHA-256), over TCP as the stations do.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ADMIN = "ooc_admin"
STATION = "line_station"  # the tests' own; docs/provisioning.md's roles are made by a test
STATION_PASSWORD = "st4tion-Pw!x"  # never to appear in any output (tests check)


def find_bin() -> Path | None:
    """The directory with initdb and pg_ctl: on PATH, else Debian's newest versioned one."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running server; :meth:`stop` (``immediate`` = a crash) and :meth:`start` again."""

    bindir: Path
    root: Path  # owned by the server's user: data/, the socket, server.log
    port: int
    run_as: str | None  # the OS user the server runs as when we are root
    databases: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if self.run_as is not None:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        # from the server's own directory: the caller's may be one the server's user cannot enter
        return subprocess.run(
            cmd, capture_output=True, text=True, check=check, timeout=120, cwd=self.root
        )

    def start(self) -> None:
        r = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                      "start", check=False)  # fmt: skip
        if r.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()} {tail}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                  check=False)  # fmt: skip

    def url(self, db: str, user: str = STATION, password: str | None = STATION_PASSWORD) -> str:
        auth = urllib.parse.quote(user, safe="")
        if password is not None:
            auth += ":" + urllib.parse.quote(password, safe="")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def admin(self, db: str = "postgres") -> Any:
        """A psycopg connection as the superuser (autocommit), over the socket."""
        import psycopg

        return psycopg.connect(
            host=str(self.root), port=self.port, user=ADMIN, dbname=db, autocommit=True
        )

    def create_database(self, name: str, owner: str = STATION) -> str:
        """A new empty database owned by ``owner``; its URL for that role."""
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        self.databases.append(name)
        return self.url(name, owner)


def start_server(base: Path | None = None, *, fsync: bool = False) -> PgServer:
    """initdb and start a server in a new temporary directory (RuntimeError when it cannot).
    ``fsync`` off for tests: the data survive a killed server, not a crash of the machine."""
    bindir = find_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
    run_as = None
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            owner = pwd.getpwnam(run_as)
        except KeyError:
            raise RuntimeError("running as root and there is no 'postgres' user") from None
    # as root, under /tmp: the server's user must reach it ($TMPDIR may be root's own)
    root = Path(tempfile.mkdtemp(prefix="ooc-pg-", dir=base or ("/tmp" if run_as else None)))
    if run_as is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    root.chmod(0o700)
    server = PgServer(bindir, root, _free_port(), run_as)
    r = server._run("initdb", "-D", str(server.data), "-U", ADMIN, "-E", "UTF8", "--no-locale", "--no-sync",
                    "--auth-local=trust", "--auth-host=scram-sha-256", check=False)  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(f"initdb failed: {r.stderr.strip()[-2000:]}")
    conf = [
        "listen_addresses = '127.0.0.1'",
        f"port = {server.port}",
        f"unix_socket_directories = '{root}'",
        "max_connections = 60",
        f"fsync = {'on' if fsync else 'off'}",
        "shared_buffers = 32MB",
        "log_min_messages = warning",
    ]
    hba = [
        f"local all {ADMIN} trust",
        "local all all scram-sha-256",
        "host all all 127.0.0.1/32 scram-sha-256",
    ]
    _append(server.data / "postgresql.conf", conf)  # as root too: the files keep their owner
    (server.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
    for attempt in range(3):  # another process may take the free port first
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
            server.port = _free_port()
            _append(server.data / "postgresql.conf", [f"port = {server.port}"])
    with server.admin() as conn:
        conn.execute(f"CREATE ROLE {STATION} LOGIN PASSWORD '{STATION_PASSWORD}'")
    return server


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a") as f:
        f.write("\n".join(lines) + "\n")


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def remove(server: PgServer) -> None:
    server.stop("immediate")
    with contextlib.suppress(OSError):
        shutil.rmtree(server.root)
