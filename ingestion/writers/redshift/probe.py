"""What the start of a file looks like (header, header line, BOM), and whether COPY can read it
directly or it needs normalising first."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from dataclasses import dataclass
from typing import BinaryIO

from ingestion.contract import Contract
from ingestion.landing import Landing, LandingObject
from ingestion.parsing import (
    DECOMPRESSION_ERRORS,
    FileRefused,
    ParseStats,
    map_header,
    open_binary,
    open_text,
)
from ingestion.writers.redshift.copy_options import contract_normalization_reasons, redshift_encoding
from ingestion.writers.text import one_line

_PROBE_BYTES = 4 << 20


@dataclass(frozen=True)
class FileShape:
    """What :func:`probe_shape` learned from the first bytes of a file (nothing for Parquet).

    ``header``: the CSV header fields; ``header_line``: physical lines up to and including the header
    (COPY's IGNOREHEADER); ``bom``: the data starts with a byte-order mark; ``problem``: why the file
    could not be probed (the normaliser then gives the exact refusal).
    """

    header: tuple[str, ...] | None = None
    header_line: int = 0
    bom: bool = False
    multiline_header: bool = False
    problem: str | None = None

    @classmethod
    def expected(cls, contract: Contract) -> FileShape:
        """A file laid out exactly as the contract declares (header = source names in contract order)."""
        fmt = contract.format
        if fmt.type == "csv" and fmt.header:
            return cls(tuple(c.source_name for c in contract.columns), fmt.skip_lines + 1)
        return cls(None, fmt.skip_lines if fmt.type == "csv" else 0)


@dataclass(frozen=True)
class Route:
    reasons: list[str]
    columns: list[str]  # COPY column list in file order (direct route)
    stats: ParseStats
    refused: str | None = None


def route(contract: Contract, shape: FileShape | None) -> Route:
    reasons = contract_normalization_reasons(contract)
    stats = ParseStats()
    fmt = contract.format
    columns = [c.name for c in contract.columns]
    if reasons:
        return Route(reasons, columns, stats)
    if shape is None and fmt.type == "csv" and fmt.header:
        return Route(["the file's header was not probed (COPY maps CSV fields by position)"], columns, stats)
    shape = shape or FileShape.expected(contract)
    if shape.problem:
        return Route([f"the file could not be probed: {shape.problem}"], columns, stats)
    if shape.multiline_header:
        return Route(["the header spans lines (quoted newline)"], columns, stats)
    if shape.bom and shape.header_line == 0:
        return Route(["the data starts with a byte-order mark COPY would keep"], columns, stats)
    if fmt.type == "csv" and fmt.header:
        try:
            indexes = map_header(contract, list(shape.header or ()), stats)
        except FileRefused as err:
            return Route([], columns, stats, refused=str(err))
        if stats.extra_columns:
            return Route(
                [f"undeclared columns {stats.extra_columns} (COPY cannot skip fields)"], columns, stats
            )
        by_index = {i: c.name for c, i in zip(contract.columns, indexes, strict=True) if i is not None}
        columns = [by_index[i] for i in range(len(shape.header or ()))]
    return Route([], columns, stats)



class _Limited(io.RawIOBase):
    def __init__(self, stream: BinaryIO, limit: int):
        self._stream, self._left = stream, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        data = self._stream.read(min(len(buffer), self._left))
        n = len(data)
        buffer[:n] = data
        self._left -= n
        return n


def probe_shape(contract: Contract, landing: Landing, obj: LandingObject) -> FileShape | None:
    """Read the start of a CSV/JSONL object (a few MiB at most): header fields, header line, BOM."""
    fmt = contract.format
    if fmt.type == "parquet":
        return None
    try:
        with contextlib.closing(landing.open(obj)) as raw:
            binary = open_binary(_Limited(raw, _PROBE_BYTES), contract, obj.key)
            bom = redshift_encoding(contract) == "UTF8" and binary.peek(3)[:3] == codecs.BOM_UTF8
            if fmt.type != "csv" or not fmt.header:
                return FileShape(None, fmt.skip_lines if fmt.type == "csv" else 0, bom)
            text = open_text(binary, contract)
            for _ in range(fmt.skip_lines):
                if not text.readline():
                    return FileShape(problem="file ends before the header")
            reader = csv.reader(text, delimiter=fmt.delimiter, quotechar=fmt.quote, doublequote=True, strict=False)
            before = 0
            for fields in reader:
                if fields and any(h.strip() for h in fields):
                    return FileShape(
                        tuple(fields), fmt.skip_lines + reader.line_num, bom,
                        multiline_header=reader.line_num - before > 1,
                    )
                before = reader.line_num
            return FileShape(problem="no header within the first bytes of the file")
    except (FileRefused, UnicodeError, csv.Error, *DECOMPRESSION_ERRORS) as err:
        return FileShape(problem=one_line(err) or type(err).__name__)
