"""Writers: load landing files into a warehouse behind one protocol (:class:`Writer`).

``open_writer(settings, landing)`` gives the writer for the environment's warehouse:
:class:`ingestion.writers.postgres.PostgresWriter` (local stack, PostgreSQL) or
:class:`ingestion.writers.redshift.RedshiftWriter` (production). The runner
(:mod:`ingestion.runner`) talks only to the protocol.
"""

from __future__ import annotations

from core.errors import TerraMinerError
from core.settings import Settings
from core.warehouse import connect, connect_redshift
from ingestion.landing import Landing
from ingestion.writers.base import FileResult, Writer
from ingestion.writers.postgres import PostgresWriter

__all__ = ["FileResult", "Writer", "as_writer", "open_writer"]


def open_writer(settings: Settings, landing: Landing) -> Writer:
    """A writer on a new connection to the warehouse the settings name; ``close()`` it when done."""
    if settings.warehouse.kind == "redshift":
        from ingestion.writers.redshift import RedshiftWriter

        if not settings.redshift_iam_role:
            raise TerraMinerError("TERRAMINER_REDSHIFT_IAM_ROLE is not set: Redshift COPY needs the cluster's IAM role")
        return RedshiftWriter(connect_redshift(settings), landing, settings.redshift_iam_role)
    return PostgresWriter(connect(settings), landing)


def as_writer(target, landing: Landing) -> Writer:
    """``target`` itself when it is a Writer; a psycopg connection the caller owns (tests, CI and the
    AVM evaluation pass one) becomes a PostgresWriter on it (not closed here)."""
    return target if isinstance(target, Writer) else PostgresWriter(target, landing)
