"""The local stack through the real CLI: up/down/status/env/psql, isolation, clear errors."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
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
    with psycopg.connect(host=a["PGHOST"], dbname="terraminer", user="postgres") as conn:
        conn.execute("create table only_in_a (x int)")
    with psycopg.connect(host=b["PGHOST"], dbname="terraminer", user="postgres") as conn:
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
