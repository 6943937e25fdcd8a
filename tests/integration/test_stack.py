"""The local stack through the real CLI: up/down/status/env/psql, isolation, clear errors."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from core.settings import Settings
from terraminer.stack import LocalStack


def cli(home: Path, *args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TERRAMINER_", "DBT_"))}
    env.update(TERRAMINER_HOME=str(home), **(extra_env or {}))
    return subprocess.run(
        [sys.executable, "-m", "terraminer.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def home():
    path = Path(tempfile.mkdtemp(prefix="tms-", dir="/tmp"))
    yield path
    LocalStack(Settings(home=path)).down()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def second_home():
    path = Path(tempfile.mkdtemp(prefix="tms-", dir="/tmp"))
    yield path
    LocalStack(Settings(home=path)).down()
    shutil.rmtree(path, ignore_errors=True)


def exports(home: Path) -> dict[str, str]:
    out = cli(home, "env").stdout
    pairs = {}
    for line in out.splitlines():
        assert line.startswith("export ")
        key, _, value = line[len("export "):].partition("=")
        pairs[key] = value.strip("'")
    return pairs


def test_up_status_down_and_idempotent_up(home):
    assert cli(home, "status").returncode == 3
    first = cli(home, "up")
    assert first.returncode == 0, first.stderr
    assert "running" in first.stdout
    again = cli(home, "up")
    assert again.returncode == 0 and "running" in again.stdout
    status = cli(home, "status")
    assert status.returncode == 0 and "running (pid" in status.stdout
    down = cli(home, "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    after = cli(home, "status")
    assert after.returncode == 3 and "stopped" in after.stdout


def test_env_lets_plain_libpq_clients_connect(home):
    assert cli(home, "up").returncode == 0
    env = exports(home)
    for key in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "DBT_TARGET", "DBT_PROFILES_DIR", "MLFLOW_TRACKING_URI"):
        assert env.get(key), key
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with psycopg.connect() as conn:  # no arguments: libpq reads PG* variables
            assert conn.execute("select current_database()").fetchone()[0] == "terraminer"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    psql = cli(home, "psql", "-Atc", "select 40 + 2")
    assert psql.returncode == 0 and psql.stdout.strip() == "42"


def test_two_homes_run_side_by_side(home, second_home):
    assert cli(home, "up").returncode == 0
    assert cli(second_home, "up").returncode == 0
    a, b = exports(home), exports(second_home)
    assert a["PGHOST"] != b["PGHOST"]
    with psycopg.connect(host=a["PGHOST"], dbname="terraminer", user="postgres", passfile=a["PGPASSFILE"]) as conn:
        conn.execute("create table only_in_a (x int)")
    with psycopg.connect(host=b["PGHOST"], dbname="terraminer", user="postgres", passfile=b["PGPASSFILE"]) as conn:
        assert conn.execute("select to_regclass('only_in_a')").fetchone()[0] is None
    assert cli(home, "down").returncode == 0
    assert cli(second_home, "status").returncode == 0


def test_commands_needing_the_stack_say_how_to_start_it(home):
    result = cli(home, "ingest", "--quiet")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "terraminer up" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli(home, "psql", "-c", "select 1")
    assert result.returncode == 1 and "terraminer up" in result.stderr


def test_stale_pid_file_is_cleared(home):
    assert cli(home, "up").returncode == 0
    assert cli(home, "down").returncode == 0
    pid_file = Settings(home=home).pg_data_dir / "postmaster.pid"
    pid_file.write_text("999999\n")
    result = cli(home, "up")
    assert result.returncode == 0, result.stderr
    assert "running" in result.stdout


def test_tcp_port_in_use_is_one_clear_line(home):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = cli(home, "up", extra_env={"TERRAMINER_PG_TCP": "true", "TERRAMINER_PG_PORT": str(port)})
    assert result.returncode == 1
    assert f"TCP port {port}" in result.stderr and "TERRAMINER_PG_PORT" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


# ------------------------------------------------------------------ authentication (issue 15, item 1)
def _passwords(home: Path) -> dict[str, str]:
    from terraminer.credentials import read_passwords

    return read_passwords(Settings(home=home).pg_passfile)


def test_every_connection_needs_the_generated_password(home):
    port = free_tcp_port()
    result = cli(home, "up", extra_env={"TERRAMINER_PG_TCP": "true", "TERRAMINER_PG_PORT": str(port)})
    assert result.returncode == 0, result.stderr
    env = exports(home)
    passwords = _passwords(home)
    assert set(passwords) >= {"postgres", "terraminer_loader", "terraminer_transformer", "terraminer_ml",
                              "terraminer_bi", "terraminer_api"}
    assert len(set(passwords.values())) == len(passwords)  # one per role
    # neither `up` nor `env` prints a password; env hands libpq the file, not the secret
    assert "PGPASSWORD" not in env and env["PGPASSFILE"] == str(Settings(home=home).pg_passfile)
    for secret in passwords.values():
        assert secret not in result.stdout + result.stderr + cli(home, "env").stdout
    for user in passwords:
        for host in ("127.0.0.1", env["PGHOST"]):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(host=host, port=port, dbname="terraminer", user=user, passfile="/nonexistent").close()
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host="127.0.0.1", port=port, dbname="terraminer", user=user, password="wrong").close()
    with psycopg.connect(host="127.0.0.1", port=port, dbname="terraminer", user="postgres",
                         passfile=env["PGPASSFILE"]) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        method = conn.execute("select pg_catalog.left(rolpassword, 13) from pg_authid where rolname = 'postgres'")
        assert method.fetchone()[0] == "SCRAM-SHA-256"
    # psql through `terraminer env` (PGPASSFILE), and the files are private
    psql = cli(home, "psql", "-Atc", "select current_user", extra_env={"TERRAMINER_PG_PORT": str(port)})
    assert psql.returncode == 0 and psql.stdout.strip() == "postgres", psql.stderr
    settings = Settings(home=home, pg_port=port)
    assert oct(settings.pg_socket_dir.stat().st_mode & 0o777) == "0o700"
    assert oct(settings.secrets_dir.stat().st_mode & 0o777) == "0o700"
    assert oct(settings.pg_passfile.stat().st_mode & 0o777) == "0o600"
    assert settings.home_dir.stat().st_mode & 0o077 in (0, 0o001)  # traverse only, never list/read
    cli(home, "down", extra_env={"TERRAMINER_PG_PORT": str(port)})


def test_a_trust_stack_is_upgraded_in_place(home):
    """A stack made before authentication (initdb --auth=trust, no passwords) asks for passwords
    after the next `up`, keeping its data, whether it was running or stopped."""
    assert cli(home, "up").returncode == 0
    settings = Settings(home=home)
    stack = LocalStack(settings)

    def make_trust_stack():
        with psycopg.connect(**settings.warehouse.conninfo()) as conn:
            conn.execute("create table if not exists kept (x int)")
            conn.execute("alter role postgres password null")
        (settings.pg_data_dir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        stack._run_pg(["pg_ctl", "-D", str(settings.pg_data_dir), "reload"])
        time.sleep(0.3)
        with psycopg.connect(**settings.warehouse.conninfo(passfile="/nonexistent")) as conn:  # trust: anyone
            conn.execute("select 1")

    for running in (True, False):
        make_trust_stack()
        if not running:
            assert cli(home, "down").returncode == 0
        result = cli(home, "up")
        assert result.returncode == 0, result.stderr
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(**settings.warehouse.conninfo(passfile="/nonexistent")).close()
        with psycopg.connect(**settings.warehouse.conninfo()) as conn:
            assert conn.execute("select to_regclass('kept')").fetchone()[0] == "kept"


def test_long_home_uses_a_private_runtime_folder(tmp_path):
    from terraminer.stack import private_runtime_dir

    home = tmp_path / ("x" * 120)
    settings = Settings(home=home, pg_port=free_tcp_port())
    assert settings.pg_socket_dir.parent == settings.runtime_dir == Path(f"/tmp/terraminer-{os.geteuid()}")
    try:
        result = cli(home, "up", extra_env={"TERRAMINER_PG_PORT": str(settings.pg_port)})
        assert result.returncode == 0, result.stderr
        runtime = settings.runtime_dir.lstat()
        assert runtime.st_uid == os.geteuid() and runtime.st_mode & 0o077 in (0, 0o011)
        assert oct(settings.pg_socket_dir.lstat().st_mode & 0o777) == "0o700"
    finally:
        cli(home, "down", extra_env={"TERRAMINER_PG_PORT": str(settings.pg_port)})
        shutil.rmtree(settings.pg_socket_dir, ignore_errors=True)
    # a planted symlink (or someone else's folder) at the predictable name is refused, not followed
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o755)
    planted = tmp_path / "planted"
    planted.symlink_to(victim)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Settings, "runtime_dir", property(lambda self: planted))
        with pytest.raises(Exception, match="not a folder of yours"):
            private_runtime_dir(Settings(home=home))
    assert oct(victim.stat().st_mode & 0o777) == "0o755"  # untouched


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
