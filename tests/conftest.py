"""Shared fixtures: a real embedded PostgreSQL server and a real (moto) S3 server per test session.

Nothing is mocked: tests talk to PostgreSQL 18 over its unix socket and to S3 over HTTP.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

# make test runs two pytest-xdist workers on a 2-core machine: each worker's OpenMP code
# (scikit-learn's gradient boosting, in-process and in the CLIs it starts) gets one core, or the
# two workers' thread pools oversubscribe the machine and spin against each other.
if os.environ.get("PYTEST_XDIST_WORKER"):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "2"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // workers)))

import psycopg
import pytest
from psycopg import sql

from core.settings import Settings
from terraminer.stack import temporary_stack

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    """Heavy test files first (a module's ``XDIST_WEIGHT``, its seconds on 2 cores), each file's
    tests kept in order: ``make test``'s two xdist workers (--dist loadfile) then take the long
    files at the start and finish together instead of one worker running the last long file alone."""
    items.sort(key=lambda item: -getattr(item.module, "XDIST_WEIGHT", 0))


def shared_data() -> Path:
    """``../shared/data`` or a skip with the reason (a user's fresh clone does not have it)."""
    if not (SHARED_DATA / "README.md").exists():
        pytest.skip(f"real public data not present at {SHARED_DATA} (CI has it; see README)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """A session-wide embedded PostgreSQL in a short temp dir (unix socket paths are length-limited)."""
    with temporary_stack("tmt-") as settings:
        yield settings


class Database:
    """A fresh database on the session server, dropped after the test."""

    def __init__(self, settings: Settings, name: str):
        self.settings = settings.model_copy(update={"database": name})
        self.name = name

    @property
    def conninfo(self) -> dict:
        return self.settings.warehouse.conninfo()

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(**self.conninfo, **kwargs)

    def scalar(self, query: str, params=None):
        with self.connect() as conn:
            row = conn.execute(query, params).fetchone()
            return row[0] if row else None

    def rows(self, query: str, params=None) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(query, params).fetchall()

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (CLI, dbt) pointed at this database."""
        env = dict(os.environ)
        env.update(self.settings.warehouse.libpq_env())
        env.update(
            TERRAMINER_ENV="ci",
            TERRAMINER_HOME=str(self.settings.home_dir),
            TERRAMINER_DATABASE=self.name,
        )
        return env


def _create_database(settings: Settings) -> Database:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**settings.warehouse.conninfo(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    database = Database(settings, name)
    # as `terraminer up` does for its database: the roles' schemas and grants (dbt runs as the transformer)
    from terraminer import roles

    with database.connect() as conn:
        roles.apply_postgres(conn)
        roles.install_pii_key(conn, settings.pii_key())
    return database


def _drop_database(db: Database) -> None:
    with psycopg.connect(**db.settings.warehouse.conninfo(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(db.name)))


@pytest.fixture
def db(stack_settings: Settings) -> Iterator[Database]:
    database = _create_database(stack_settings)
    try:
        yield database
    finally:
        _drop_database(database)


@pytest.fixture(scope="module")
def module_db(stack_settings: Settings) -> Iterator[Database]:
    database = _create_database(stack_settings)
    try:
        yield database
    finally:
        _drop_database(database)


def stop_process_group(proc, grace_s: float = 30) -> None:
    """Stop a process started with ``start_new_session=True`` together with its children (an
    ``mlflow models serve`` and its workers, ``make ui`` and Dagster's processes): SIGTERM to its
    process group, up to ``grace_s`` for a clean exit (a loaded machine has taken longer), then
    SIGKILL to whatever of the group is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server speaking real HTTP on localhost."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    import boto3

    name = f"landing-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name
