"""Pre-normalisation: the contract's Python parser streams a file COPY cannot read exactly into a
gzip CSV it can (source line, target columns, ISO dates), next to a gzip CSV of the rejected rows."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO

from ingestion.contract import Column, Contract
from ingestion.landing import Landing, LandingObject
from ingestion.parsing import (
    DECOMPRESSION_ERRORS,
    FileRefused,
    ParseStats,
    Reject,
    describe_decompression_error,
)
from ingestion.writers.base import RejectLog
from ingestion.writers.files import capture_lines, open_batches
from ingestion.writers.redshift.manifest import digest
from ingestion.writers.redshift.sql import VARCHAR_MAX
from ingestion.writers.text import first_invalid_byte, fit, utf8_encodable

NORMALIZED_PREFIX = "_normalized/"
_BOOLEAN = {
    **dict.fromkeys(("t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"), "true"),
    **dict.fromkeys(("f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"), "false"),
}


@dataclass(frozen=True)
class NormalizedFile:
    """The result of :func:`normalize` for one file version."""

    source: LandingObject
    key: str | None = None  # landing key of the normalised gzip CSV
    size: int = 0
    rows_read: int = 0  # rows the parser read (written + rejected in Python)
    rows_written: int = 0
    rejects: int = 0
    rejects_key: str | None = None
    rejects_size: int = 0
    notes: tuple[str, ...] = ()
    refused: str | None = None



def normalized_key(obj: LandingObject) -> str:
    """Landing key of the normalised copy of one file version."""
    return f"{NORMALIZED_PREFIX}{obj.key}.{digest(obj.version, n=12)}.csv.gz"



class _CountingWriter(io.RawIOBase):
    def __init__(self, sink: BinaryIO):
        self._sink, self.size = sink, 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        n = self._sink.write(data)
        n = len(data) if n is None else n
        self.size += n
        return n



def _without_date_formats(contract: Contract) -> Contract:
    columns = [c.model_copy(update={"date_format": None}) for c in contract.columns]
    return contract.model_copy(update={"columns": columns})


class _Normalizer:
    """Target row (strings, '' = NULL) → values Redshift COPY parses exactly as PostgreSQL would."""

    def __init__(self, contract: Contract):
        self.names = [c.name for c in contract.columns]
        self.steps: list[tuple[int, str, Callable[[str], str]]] = []
        for pos, col in enumerate(contract.columns, start=1):
            fn = self._step(col)
            if fn is not None:
                self.steps.append((pos, col.name, fn))

    @staticmethod
    def _step(col: Column) -> Callable[[str], str] | None:
        if col.is_temporal and col.date_format:
            pattern = col.date_format
            iso = "%Y-%m-%d" if col.type == "date" else "%Y-%m-%d %H:%M:%S"
            zone = col.type == "timestamptz"

            def temporal(v: str) -> str:
                try:
                    parsed = datetime.strptime(v.strip(), pattern)
                except ValueError:
                    raise ValueError(f"does not match date format {pattern}") from None
                if zone and parsed.tzinfo is not None:
                    return parsed.astimezone(UTC).strftime(iso) + "+00"
                return parsed.strftime(iso)

            return temporal
        if col.type.startswith("numeric") or col.type in ("real", "double precision"):

            def number(v: str) -> str:
                v = v.strip()
                if "e" in v or "E" in v:  # Redshift DECIMAL does not read exponent notation
                    with contextlib.suppress(InvalidOperation, ValueError):
                        return format(Decimal(v), "f")
                return v

            return number
        if col.type == "boolean":
            return lambda v: _BOOLEAN.get(v.strip().lower(), v)
        if col.is_numeric or col.is_temporal:
            return str.strip
        return None

    def shape(self, row: tuple, rejects: list[Reject]) -> list[str] | None:
        line = int(row[0])
        values = list(row)
        for pos, name, fn in self.steps:
            if values[pos]:
                try:
                    values[pos] = fn(values[pos])
                except ValueError as err:
                    rejects.append(Reject(line, name, str(err), values[pos]))
                    return None
        joined = "\x1f".join(values)  # one scan for the common case: nothing to reject
        if "\x00" not in joined and (joined.isascii() or utf8_encodable(joined)):
            return values
        for pos in range(1, len(values)):
            value = values[pos]
            if "\x00" in value:
                rejects.append(Reject(line, self.names[pos - 1], "NUL byte (0x00) in value: Redshift text cannot hold it", value))
                return None
            if not utf8_encodable(value):
                bad = first_invalid_byte(value)
                rejects.append(
                    Reject(line, self.names[pos - 1], f"invalid byte 0x{bad:02x} for the file's encoding: if the "
                           "whole file is another encoding, set format.encoding (e.g. latin-1)", value)
                )
                return None
        return values



@contextlib.contextmanager
def _gzip_csv(landing: Landing, key: str) -> Iterator[tuple[Any, _CountingWriter]]:
    """A CSV writer into a gzip object that appears only if the block exits without error."""
    with landing.writer(key) as sink:
        counter = _CountingWriter(sink)
        gz = gzip.GzipFile(fileobj=counter, mode="wb", compresslevel=6, mtime=0)
        text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
        try:
            yield csv.writer(text, lineterminator="\n"), counter
            text.flush()
        finally:
            text.detach()
            gz.close()


def normalize(contract: Contract, landing: Landing, obj: LandingObject) -> NormalizedFile:
    """Stream one file version through the contract's Python parser into a gzip CSV COPY reads exactly.

    Output (next to the landing files, under ``_normalized/``): a header line, then one line per
    target row: the source line number, then the contract columns (ISO dates, no thousands separators,
    '' for NULL). Rows the parser rejects go to a second gzip CSV (line, column, reason, value, raw
    text) that the plan COPYs into the rejects. A file the contract cannot read at all comes back with
    ``refused`` set (nothing uploaded). Memory stays flat; the output spools through a temp file.
    """
    parse_contract = _without_date_formats(contract)
    shaper = _Normalizer(contract)
    stats = ParseStats()
    rejects = RejectLog(contract.limits.reject_details)  # raw text for the first ones only
    rows_read = rows_written = 0
    key = normalized_key(obj)
    try:
        with _gzip_csv(landing, key) as (writer, counter):
            writer.writerow(["_row_number", *shaper.names])
            with open_batches(parse_contract, landing, obj, stats) as batches:
                for batch in batches:
                    rows_read += len(batch.rows) + len(batch.rejects)
                    rejects.extend(batch.rejects)
                    shaped = [v for v in (shaper.shape(row, rejects) for row in batch.rows) if v is not None]
                    writer.writerows(shaped)
                    rows_written += len(shaped)
        size = counter.size
    except FileRefused as err:
        return NormalizedFile(obj, refused=str(err))
    except DECOMPRESSION_ERRORS as err:
        return NormalizedFile(obj, refused=describe_decompression_error(err))
    except UnicodeError as err:
        return NormalizedFile(obj, refused=f"cannot decode as {contract.format.encoding}: {err}; set format.encoding")
    notes = []
    if stats.extra_columns:
        notes.append(f"ignored undeclared columns: {', '.join(stats.extra_columns)}")
    if stats.missing_columns:
        notes.append(f"absent nullable columns loaded as NULL: {', '.join(stats.missing_columns)}")
    result = NormalizedFile(obj, key, size, rows_read, rows_written, notes=tuple(notes))
    if not rejects.count:
        return result
    kept = {r.line for r in rejects.kept}
    raw_texts = {line: raw for line, (raw, _values) in capture_lines(parse_contract, landing, obj, kept).items()}
    rejects_key = key[: -len(".csv.gz")] + ".rejects.csv.gz"
    with _gzip_csv(landing, rejects_key) as (writer, counter):
        writer.writerow(["line_number", "column_name", "reason", "value", "raw_text"])
        spooled = (Reject(line, column, reason, value) for line, column, reason, value in rejects.spooled())
        for r in [*sorted(rejects.kept, key=lambda r: r.line), *spooled]:
            writer.writerow([
                r.line, fit(r.column, 128) or "", fit(r.reason, VARCHAR_MAX) or "?",
                fit(r.value, VARCHAR_MAX) or "", fit(raw_texts.get(r.line), VARCHAR_MAX) or "",
            ])
    rejects.close()
    return NormalizedFile(
        obj, key, size, rows_read, rows_written, rejects.count, rejects_key, counter.size, tuple(notes)
    )

