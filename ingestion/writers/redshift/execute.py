"""Running one file's plan over a DB-API cursor: skip, refuse or commit."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from core.errors import TerraMinerError
from ingestion.writers.base import CopyOutcome, FileResult, WarehouseUnavailable, is_pending
from ingestion.writers.redshift.plan import FilePlan, Timing
from ingestion.writers.redshift.sql import Statement, run
from ingestion.writers.redshift.sql import stmt as _stmt
from ingestion.writers.text import one_line

# Errors of a failed COPY that say nothing about the file: raise (retry later) instead of refusing it.
_INFRASTRUCTURE = (
    "s3serviceexception", "access denied", "accessdenied", "not authorized", "credentials", "assumerole",
    "does not exist", "permission denied", "manifest", "could not connect", "timeout", "connection",
)


def _is_infrastructure(message: str) -> bool:
    lowered = message.lower()
    return any(token in lowered for token in _INFRASTRUCTURE)


def execute_plan(
    cursor,
    file_plan: FilePlan,
    *,
    retry_refused: bool = False,
    verify: Callable[[], str | None] | None = None,
) -> FileResult:
    """Run one file's plan over a DB-API cursor (redshift_connector / psycopg2 style, autocommit).

    ``verify`` runs after the decide phase, before anything is committed; it returns a message when the
    load must not commit (e.g. the object's ETag changed since it was listed) and the transaction is
    rolled back and a :class:`TerraMinerError` raised (nothing recorded: run the ingest again).
    """
    clock = time.perf_counter()
    started_at = datetime.now(UTC)
    fp, contract, obj = file_plan, file_plan.contract, file_plan.obj
    result = FileResult(contract.name, obj.key, obj.version, "skipped", notes=list(fp.notes))

    def timing() -> Timing:
        return Timing(started_at, time.perf_counter() - clock)

    def finish(status: str, outcome: CopyOutcome | None, error: str | None = None) -> FileResult:
        result.status, result.error = status, error
        if outcome is not None:
            result.count(outcome)
        result.seconds = time.perf_counter() - clock
        return result

    def guarded(statements: Sequence[Statement]) -> None:
        try:
            run(cursor, statements)
        except BaseException:
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            raise

    guarded(fp.open)
    rows = cursor.fetchall()
    same = next((r for r in rows if r[1] == obj.version), None)
    if same is not None and not is_pending((same[2], same[3]), contract, retry_refused):
        guarded([_stmt("ROLLBACK")])
        return finish("skipped", None)
    previous = next((r for r in rows if r[2] == "loaded" and r[1] != obj.version), None)
    guarded(fp.reset)
    refusal = fp.refused
    if refusal is None and previous is not None and contract.load.mode == "append":
        refusal = (
            f"append-only contract: {obj.key} changed after it was loaded (was version {previous[1]}); "
            "deliver corrections under a new key or use load mode replace_file"
        )
    if refusal is not None:
        guarded(fp.refuse_phase(None, refusal, timing(), with_rejects=False))
        return finish("refused", None, refusal)
    try:
        run(cursor, fp.copy)
    except Exception as err:  # the COPY failed as a whole: the driver's error class varies
        message = one_line(err)
        with contextlib.suppress(Exception):
            cursor.execute("ROLLBACK")
        if _is_infrastructure(message):
            raise WarehouseUnavailable(
                f"COPY of {fp.data_uri} failed (not the file's fault, retry): {message}"
            ) from err
        error = f"Redshift COPY refused the file: {message}"
        guarded(fp.reopen + fp.refuse_phase(None, error, timing(), with_rejects=False))
        return finish("refused", None, error)
    guarded(fp.decide[:1])
    loaded = int(cursor.fetchone()[0] or 0)
    guarded(fp.decide[1:2])
    rejected, copy_rejected = (int(v or 0) for v in cursor.fetchone())
    guarded(fp.decide[2:3])
    first = cursor.fetchone() if rejected else None
    outcome = CopyOutcome(loaded, rejected, copy_rejected, tuple(first) if first else None)
    if verify is not None:
        problem = verify()
        if problem:
            guarded([_stmt("ROLLBACK")])
            raise TerraMinerError(problem)
    refusal = fp.refusal(outcome)
    if refusal is not None:
        guarded(fp.refuse_phase(outcome, refusal, timing()))
        return finish("refused", outcome, refusal)
    guarded(fp.commit_phase(outcome, timing()))
    result.replaced = previous is not None
    return finish("loaded", outcome)
