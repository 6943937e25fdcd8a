"""Both writers satisfy the ``Writer`` protocol the runner talks to (a real PostgreSQL connection;
the Redshift writer is built without a cluster: constructing it opens nothing)."""

from __future__ import annotations

import inspect
from pathlib import Path

from ingestion.landing import LocalLanding, S3Landing
from ingestion.writers import as_writer
from ingestion.writers.base import Writer
from ingestion.writers.postgres import PostgresWriter
from ingestion.writers.redshift import RedshiftWriter

MEMBERS = ("conn", "ensure_meta", "lock", "ensure_table", "ledger_versions", "load", "ensure_key_index", "close")


class _NoCluster:
    def cursor(self):  # pragma: no cover - never called by these tests
        raise AssertionError("no Redshift cluster here")


def test_both_writers_satisfy_the_protocol(db, tmp_path):
    redshift = RedshiftWriter(_NoCluster(), S3Landing("tm-landing", "prod"), "arn:aws:iam::123456789012:role/Loader")
    with db.connect() as conn:
        postgres = PostgresWriter(conn, LocalLanding(tmp_path))
        for writer in (postgres, redshift):
            assert isinstance(writer, Writer)
            assert all(hasattr(writer, m) for m in MEMBERS)
            load = inspect.signature(writer.load).parameters
            assert list(load)[:2] == ["contract", "obj"]
            assert {p: load[p].kind for p in ("retry_refused", "on_progress")} == dict.fromkeys(
                ("retry_refused", "on_progress"), inspect.Parameter.KEYWORD_ONLY
            )


def test_a_connection_becomes_a_postgres_writer_and_a_writer_stays_itself(db, tmp_path):
    landing = LocalLanding(tmp_path)
    with db.connect() as conn:
        wrapped = as_writer(conn, landing)
        assert isinstance(wrapped, PostgresWriter) and wrapped.conn is conn and wrapped.landing is landing
        assert as_writer(wrapped, landing) is wrapped


def test_the_runner_does_not_branch_on_writer_types():
    source = (Path(__file__).parents[2] / "ingestion" / "runner.py").read_text()
    assert "isinstance" not in source and "getattr" not in source and "import _" not in source
