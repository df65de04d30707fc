"""Starts a throw-away PostgreSQL (Debian's `postgresql` package) on 127.0.0.1 for tests.

`initdb` into a fresh temporary directory, `pg_ctl start` on a free loopback port with the
socket in that directory, one database created; `stop()` stops the cluster and removes the
directory. PostgreSQL refuses to run as root: when the tests run as root, every server command
runs as the `postgres` system user (`runuser`), and the directory is created outside pytest's
root-only tmp tree and handed to that user.

The backend URI for MLflow is `.uri` (postgresql+psycopg2://USER@127.0.0.1:PORT/DB, trust authentication on
loopback only; nothing here is reachable from outside the machine).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.mlflow_server import free_port

SYSTEM_USER = "postgres"


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb, or initdb's directory on PATH."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: _version_key(p.parent.parent.name)
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def available() -> str | None:
    """None when a server can be started here, else the reason it cannot (for pytest.skip)."""
    if postgres_bin_dir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root and there is no {SYSTEM_USER!r} user to run PostgreSQL as"
    return None


@dataclasses.dataclass
class PostgresServer:
    database: str = "mlflow"
    port: int = 0
    root: Path | None = None
    bin_dir: Path | None = None

    @property
    def user(self) -> str:
        return SYSTEM_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    @property
    def uri(self) -> str:
        # psycopg2 named explicitly: MLflow 3 would otherwise ask SQLAlchemy for psycopg 3, not installed here
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "postgres.log"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert self.bin_dir is not None
        command: list[str] = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=self.root
        )
        if completed.returncode != 0:
            log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"{tool} failed ({completed.returncode}): {completed.stderr}\n{completed.stdout}\n{log}")
        return completed

    def start(self) -> PostgresServer:
        reason = available()
        if reason:
            raise RuntimeError(reason)
        self.bin_dir = self.bin_dir or postgres_bin_dir()
        # Not under pytest's tmp_path: that tree is private to the test user, and the server user must own this.
        self.root = Path(tempfile.mkdtemp(prefix="ci-track-pg-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.port = self.port or free_port()
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.root}",
                "-c max_connections=200",  # 4 MLflow workers x their pools, plus the test's own client
                "-c fsync=off",  # a throw-away cluster: durability across power loss is not the point
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w", "-t", "60", "start"
        )
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database)
        return self

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30", "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run one statement with psycopg2 and return its rows (for assertions straight on the store)."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=self.database)
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(sql, tuple(params))
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()


@contextlib.contextmanager
def running_postgres(database: str = "mlflow") -> Iterator[PostgresServer]:
    server = PostgresServer(database=database)
    try:
        server.start()
        yield server
    finally:
        server.stop()
