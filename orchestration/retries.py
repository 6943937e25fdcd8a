"""Retries with backoff for transient failures only: S3 or SQS unreachable, a network error, the
warehouse restarting or refusing connections. A data error (a refused file, a failing dbt test, a
SQL error) fails the step at once: retrying it would give the same answer.

Steps call :func:`retry_transient` around their work; a transient error becomes
``dg.RetryRequested`` with an exponential wait (5 s, 10 s, 20 s, …, at most 2 min).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import dagster as dg

MAX_RETRIES = 3
FIRST_WAIT_SECONDS = 5
MAX_WAIT_SECONDS = 120

# What the drivers say when the failure is the infrastructure's, not the data's.
TRANSIENT_PATTERNS = re.compile("|".join([
    r"could not connect to (the )?(server|endpoint)",
    r"connection (refused|reset|timed out|was closed|aborted)",
    r"server closed the connection unexpectedly",
    r"terminating connection due to administrator command",
    r"the database system is (starting up|shutting down|in recovery mode)",
    r"canceling statement due to conflict with recovery",
    r"no route to host",
    r"temporary failure in name resolution",
    r"read timeout|connect timeout|timed out",
    r"\((slowdown|throttling|serviceunavailable|internalerror|requesttimeout)\)|503 service unavailable",
    r"too many connections|remaining connection slots are reserved",
    r"ssl syscall error|eof detected",
]), re.IGNORECASE)


TRANSIENT_TYPES = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def is_transient(error: BaseException) -> bool:
    """True for network, S3/SQS and warehouse-availability errors (by type, or by what the driver
    or dbt printed); False for everything else, data errors included."""
    for link in _chain(error):
        if isinstance(link, (ConnectionError, TimeoutError)) or type(link).__name__ in TRANSIENT_TYPES:
            return True
        if TRANSIENT_PATTERNS.search(str(link)):
            return True
    return False


def backoff_seconds(retry_number: int) -> int:
    return min(FIRST_WAIT_SECONDS * 2 ** retry_number, MAX_WAIT_SECONDS)


@contextlib.contextmanager
def retry_transient(context, what: str) -> Iterator[None]:
    """Turn a transient failure of ``what`` into a retry of the step with exponential backoff."""
    try:
        yield
    except dg.RetryRequested:
        raise
    except Exception as error:
        if not is_transient(error):
            raise
        retry = context.retry_number
        wait = backoff_seconds(retry)
        context.log.warning(f"{what}: transient failure (attempt {retry + 1} of {MAX_RETRIES + 1}), "
                            f"retrying in {wait} s: {str(error)[:300]}")
        raise dg.RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=wait) from error
