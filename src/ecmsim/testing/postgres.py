"""A throw-away PostgreSQL server for tests and benchmarks of the QC store's PostgreSQL backend.

It runs Debian's (or any) PostgreSQL binaries (``initdb``, ``pg_ctl``) on a
Unix socket in a private folder, with no TCP port, trust authentication and
fsync off (a test server, never a production setting).  Run as root, the
server runs as the ``postgres`` user, which PostgreSQL requires.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "ecmsim"


def find_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (``$ECMSIM_PG_BINDIR``, Debian's layout, or ``$PATH``)."""
    env = os.environ.get("ECMSIM_PG_BINDIR")
    if env:
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


@dataclass
class PostgresServer:
    """A running test server: its folder, socket folder and port."""

    root: Path
    socket_dir: Path
    port: int
    bindir: Path
    run_as: list[str]

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` address of ``database`` on this server."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self, name: str) -> str:
        """Create an empty database; its address."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(port: int = 54329) -> PostgresServer:
    """Initialise and start a server in a new private folder under the system's temporary folder.

    Raises
    ------
    RuntimeError
        No PostgreSQL binaries, or the server did not start (with its log).
    """
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found: install Debian's postgresql package")
    root = Path(tempfile.mkdtemp(prefix="ecmsim-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        os.chmod(root, 0o755)
        shutil.chown(root, "postgres", "postgres")
    sock = root / "socket"
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    for args in (
        [str(bindir / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync"],
        ["mkdir", str(sock)],
        [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w", "-t", "60", "-o",
         f"-k {sock} -p {port} -c listen_addresses='' -c fsync=off -c full_page_writes=off", "start"],
    ):  # fmt: skip
        r = subprocess.run([*run_as, *args], capture_output=True, text=True, env=env, check=False)
        if r.returncode != 0:
            log = (root / "log").read_text() if (root / "log").exists() else ""
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"{' '.join(args[:1])} failed: {r.stderr.strip()} {r.stdout.strip()} {log}")
    return PostgresServer(root, sock, port, bindir, run_as)


def session_server() -> Iterator[PostgresServer]:
    """Body of a session-scoped pytest fixture: a server on a port derived from the process id."""
    srv = start_server(port=40000 + os.getpid() % 20000)
    try:
        yield srv
    finally:
        srv.stop()
