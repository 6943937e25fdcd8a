"""Retries: transient failures (network, S3, warehouse restarts) retry with backoff; data errors
fail at once."""

import dagster as dg
import pytest

from core.errors import TerraMinerError
from orchestration import retries


class OperationalError(Exception):
    """Stands in for psycopg's class of the same name (matched by name and message)."""


@pytest.mark.parametrize("error", [
    ConnectionResetError("peer reset"),
    TerraMinerError("cannot read s3://landing/x.csv: Could not connect to the endpoint URL: http://s3"),
    OperationalError("connection failed: the database system is starting up"),
    OperationalError("server closed the connection unexpectedly"),
    RuntimeError("An error occurred (SlowDown) when calling the GetObject operation"),
    RuntimeError("dbt failed:\n  Database Error\n  terminating connection due to administrator command"),
])
def test_transient(error):
    assert retries.is_transient(error)


@pytest.mark.parametrize("error", [
    TerraMinerError("recorder/sales/x.csv line 3 column sale_price: 'abc' is not numeric"),
    RuntimeError("Failure in test not_null_fct_sales_sale_id (models/marts/_marts.yml)"),
    OperationalError('relation "raw.x" does not exist'),
    ValueError("bad data"),
])
def test_data_errors_are_not_retried(error):
    assert not retries.is_transient(error)


def test_backoff_grows_and_is_capped():
    assert [retries.backoff_seconds(n) for n in range(7)] == [5, 10, 20, 40, 80, 120, 120]


def test_a_transient_failure_retries_and_a_data_error_does_not(monkeypatch):
    monkeypatch.setattr(retries, "FIRST_WAIT_SECONDS", 0)
    attempts = {"flaky": 0, "bad": 0}

    @dg.op
    def flaky(context):
        attempts["flaky"] += 1
        with retries.retry_transient(context, "flaky"):
            if attempts["flaky"] < 3:
                raise ConnectionRefusedError("connection refused")

    @dg.op
    def bad(context):
        attempts["bad"] += 1
        with retries.retry_transient(context, "bad"):
            raise TerraMinerError("column price: not numeric")

    result = dg.GraphDefinition(name="g1", node_defs=[flaky]).to_job().execute_in_process(raise_on_error=False)
    assert result.success and attempts["flaky"] == 3
    result = dg.GraphDefinition(name="g2", node_defs=[bad]).to_job().execute_in_process(raise_on_error=False)
    assert not result.success and attempts["bad"] == 1
