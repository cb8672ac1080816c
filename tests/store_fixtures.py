"""Store fixtures: a private PostgreSQL server for the test session, and ``store_url`` / ``store``
parametrised over SQLite and PostgreSQL so every store test runs against both.

The server is PostgreSQL's own ``initdb`` + ``pg_ctl`` (version 15 on the CI image) in a temporary
folder, listening on 127.0.0.1 on a free port with password authentication (``scram-sha-256``), so
tests see real authentication errors. ``initdb`` refuses to run as root: as root the binaries run as
the ``postgres`` system user (or ``nobody`` without it) through ``runuser``, in a folder that user
owns. Each test gets a database of its own, dropped afterwards. Without the binaries the PostgreSQL
cases skip with the reason, unless ``KPOSTURE_REQUIRE_POSTGRES=1`` (CI), where they fail instead.
See docs/testing.md.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kposture.store.connecting import Store, open_store
from kposture.store.schema import metadata

PG_USER = "postgres"
"""The database superuser the fixture creates (not necessarily the system user it runs as)."""


def postgres_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: PATH first, then Debian's versioned folders (newest)."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    folders = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    for folder in sorted(folders, key=lambda p: int(p.parent.name), reverse=True):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def _system_user() -> str | None:
    """The unprivileged user to run the server as when we are root; ``None`` when not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root, and neither a 'postgres' nor a 'nobody' user exists")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running private PostgreSQL server."""

    bindir: Path
    root: Path
    port: int
    password: str
    user: str | None
    """The system user the server runs as (``None``: the current user)."""

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )

    @classmethod
    def create(cls, bindir: Path) -> PostgresServer:
        user = _system_user()
        root = Path(tempfile.mkdtemp(prefix="kposture-pg-"))
        password = secrets.token_urlsafe(16)
        server = cls(bindir, root, 0, password, user)
        if user:
            # pytest's own temp folders are root-only (0700); this one belongs to the server's user.
            shutil.chown(root, user)
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        if user:
            shutil.chown(pwfile, user)
        done = server._run(
            str(bindir / "initdb"),
            "-D",
            str(server.data),
            "-U",
            PG_USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        if done.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        return server

    def start(self, *, durable: bool = False) -> None:
        """Start on a free port (a port taken between the probe and the start is retried).

        Tests run without fsync (durability buys nothing there, speed does); benchmarks pass
        ``durable=True`` to measure the defaults a real server runs with.
        """
        for _ in range(3):
            self.port = _free_port()
            options = f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1"
            if not durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            done = self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            )
            if done.returncode == 0:
                return
        log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{log}")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE) as the superuser."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=PG_USER,
            password=self.password,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(sql)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server; skips (or fails in CI) when the binaries are absent."""
    bindir = postgres_bindir()
    if bindir is None:
        reason = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; install the 'postgresql' package"
        )
        if os.environ.get("KPOSTURE_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (KPOSTURE_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    server = PostgresServer.create(bindir)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


_databases = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    name = f"kposture_test_{os.getpid()}_{next(_databases)}"
    postgres_server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database the test runs against: every store test runs once per backend."""
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty, unmigrated store: a new SQLite file or a new PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'kposture.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def postgres_shared_url(postgres_server: PostgresServer) -> str:
    """One migrated database for the session's ``store`` tests (emptied after each)."""
    postgres_server.execute('CREATE DATABASE "kposture_shared"')
    url = postgres_server.url("kposture_shared")
    open_store(url).close()
    return url


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """An opened, migrated, empty store on each backend.

    On PostgreSQL every test shares one database, truncated afterwards: creating a database costs
    about 0.3 s, truncating a few milliseconds.
    """
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'kposture.db'}"
    else:
        url = str(request.getfixturevalue("postgres_shared_url"))
    opened = open_store(url)
    try:
        yield opened
    finally:
        if backend == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            with opened.engine.begin() as connection:
                connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        opened.close()
