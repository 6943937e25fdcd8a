"""Streaming parsers: file bytes → rows of target-column strings, in contract column order.

A parser never holds a whole file: it yields :class:`Batch` objects of a few thousand rows. Every
record read is either in a batch (with its source line number) or in ``batch.rejects`` with the
reason. Problems that make a whole file unusable (corrupt compression, missing required column,
duplicate header names…) raise :class:`FileRefused`.

Values stay strings: type validation happens in PostgreSQL's own input functions during COPY
(``ON_ERROR ignore``), which is exact and fast; only transformations PostgreSQL cannot do
(thousands separators, extra null tokens, non-native date formats, unpivot) run here.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import BinaryIO

from ingestion.contract import NATIVE_DATE_FORMATS, Column, Contract, Limits

BATCH_ROWS = 5000
MAX_FIELD_BYTES = 16 * 1024 * 1024
csv.field_size_limit(MAX_FIELD_BYTES)


class FileRefused(Exception):
    """The file cannot match its contract; ``str()`` is the one-line reason."""


# Control characters, C1 controls, the Unicode line/paragraph separators (str.splitlines() splits on
# all of them) and surrogates (undecodable bytes kept by ``surrogateescape``, or lone ones from JSON).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match) -> str:
    ch = match.group()
    code = ord(ch)
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable source byte (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` as one line of storable, printable text: newlines, NUL and other control characters
    and undecodable bytes become backslash escapes (``\\n``, ``\\x00``, ``\\xff``); the rest is unchanged."""
    return _UNPRINTABLE.sub(_escape_char, text) if _UNPRINTABLE.search(text) else text


# PostgreSQL's special date/time inputs that are not a date from the source: ``now``, ``today``,
# ``yesterday`` and ``tomorrow`` resolve to the load time, ``epoch`` and ``[+-]infinity`` are
# sentinels. The date/time parser accepts them as a word anywhere in the value ('today 10:00',
# 'yesterday,', '10:00 tomorrow'), case-insensitively.
SPECIAL_DATE_WORDS = ("now", "today", "yesterday", "tomorrow", "infinity", "epoch")
_SPECIAL_DATE = re.compile(rf"(?<![a-z])({'|'.join(SPECIAL_DATE_WORDS)})(?![a-z])", re.IGNORECASE)


def special_date_word(value: str) -> str | None:
    """The special date/time word in ``value`` (lower case), or None."""
    match = _SPECIAL_DATE.search(value)
    return match.group(1).lower() if match else None


def special_date_reason(word: str) -> str:
    meaning = "a sentinel, not a date" if word in ("infinity", "epoch") else "the load time, not a source date"
    return f"special date/time input {word!r} is not accepted (PostgreSQL would store {meaning})"


@dataclass(frozen=True)
class Reject:
    line: int
    column: str | None
    reason: str
    value: str | None = None


@dataclass
class Batch:
    rows: list[tuple] = field(default_factory=list)  # (str(source line), target values…); '' = NULL
    rejects: list[Reject] = field(default_factory=list)


@dataclass
class ParseStats:
    blank_rows: int = 0
    extra_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)


class CountingReader(io.RawIOBase):
    """Wraps a binary stream, counting bytes read (progress) and normalising read errors."""

    def __init__(self, stream: BinaryIO, on_progress: Callable[[int], None] | None = None):
        self._stream = stream
        self.bytes_read = 0
        self._on_progress = on_progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        if self._on_progress is not None and n:
            self._on_progress(n)
        return n


class ReadAhead:
    """Reads a stream in a background thread, a few chunks ahead (at most ``depth`` MiB held): the
    socket read of an S3 body (the GIL is released while it waits) overlaps the caller's work on
    the previous chunk. Errors of the stream are raised by the ``read`` that reaches them."""

    def __init__(self, stream: BinaryIO, chunk: int = 1 << 20, depth: int = 4):
        import queue
        import threading

        self._stream = stream
        self._chunk = chunk
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._pending = b""
        self._done = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="terraminer-read-ahead")
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._stream.read(self._chunk)
                self._put(data)
                if not data:
                    return
        except BaseException as err:  # handed to the reader
            self._put(err)

    def _put(self, item) -> None:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(self._chunk):
                chunks.append(chunk)
            return b"".join(chunks)
        if not self._pending and not self._done:
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if not item:
                self._done = True
            self._pending = item
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self._stream.close()


def is_gzip(contract: Contract, key: str) -> bool:
    compression = contract.format.compression
    if compression == "auto":
        return key.endswith(".gz")
    return compression == "gzip"


def open_binary(raw: BinaryIO, contract: Contract, key: str) -> BinaryIO:
    """The file's (decompressed) bytes, checked against the contract's limits as they stream."""
    stream = io.BufferedReader(raw, buffer_size=1 << 20)
    if is_gzip(contract, key):
        compressed = raw if isinstance(raw, CountingReader) else None
        return LimitedStream(gzip.GzipFile(fileobj=stream, mode="rb"), contract.limits, compressed)
    return LimitedStream(stream, contract.limits)


_RATIO_FROM = 64 * 1024 * 1024  # decompressed bytes before the compression ratio is checked


class LimitedStream(io.RawIOBase):
    """A file's (decompressed) bytes that refuse the file (:class:`FileRefused`) as soon as a line
    is longer than ``max_line_bytes`` or, for a compressed file, the bytes exceed
    ``max_decompressed_bytes`` or ``max_compression_ratio`` times the compressed bytes read: so no
    parser ever holds more than a line of the limit, and a compression bomb stops early."""

    def __init__(self, stream: BinaryIO, limits: Limits, compressed: CountingReader | None = None,
                 gzip_file: bool | None = None):
        self._stream = stream
        self._limits = limits
        self._compressed = compressed
        self._gzip = isinstance(stream, gzip.GzipFile) if gzip_file is None else gzip_file
        self._step = min(limits.max_line_bytes, 1 << 20)  # never more than a line limit per read
        self.total = 0  # bytes delivered
        self._line = 0  # bytes since the last newline

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(self._step):
                chunks.append(chunk)
            return b"".join(chunks)
        data = self._stream.read(min(size, self._step))
        self._check(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(self._step if size is None or size < 0 else size)

    def peek(self, size: int = 0) -> bytes:
        return self._stream.peek(size)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def _check(self, data: bytes) -> None:
        n = len(data)
        if not n:
            return
        self.total += n
        last = data.rfind(b"\n")
        self._line = self._line + n if last < 0 else n - last - 1
        limits = self._limits
        if self._line > limits.max_line_bytes:
            raise FileRefused(
                f"a line longer than {limits.max_line_bytes:,} bytes ends after byte {self.total:,}: not a "
                "line-oriented file of this contract? (limits.max_line_bytes)"
            )
        if not self._gzip:
            return
        if self.total > limits.max_decompressed_bytes:
            raise FileRefused(
                f"decompresses to more than {limits.max_decompressed_bytes:,} bytes "
                "(limits.max_decompressed_bytes)"
            )
        if self._compressed is not None and self.total > _RATIO_FROM:
            read = max(self._compressed.bytes_read, 1)
            if self.total > limits.max_compression_ratio * read:
                raise FileRefused(
                    f"compression bomb: {self.total:,} bytes from {read:,} compressed bytes "
                    f"(ratio above limits.max_compression_ratio {limits.max_compression_ratio:g})"
                )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()
        super().close()


def open_text(binary: BinaryIO, contract: Contract) -> io.TextIOWrapper:
    encoding = contract.format.encoding
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # a BOM is not data
    # surrogateescape keeps undecodable bytes visible so the row (not the file) is rejected.
    # CSV: newline='' lets the csv module see every line end (and CR inside quoted fields) as is.
    # JSON Lines: records end at LF only; a bare CR is JSON whitespace inside a record.
    newline = "\n" if contract.format.type == "jsonl" else ""
    return io.TextIOWrapper(binary, encoding=encoding, errors="surrogateescape", newline=newline)


DECOMPRESSION_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def describe_decompression_error(err: Exception) -> str:
    if isinstance(err, EOFError):
        return "truncated gzip stream (compressed file ended before the end-of-stream marker)"
    return f"corrupt gzip data ({err})"


# ------------------------------------------------------------------ transforms
def _value_transform(col: Column, contract: Contract) -> Callable[[str], str] | None:
    """A function applied to a non-empty source value, or None when PostgreSQL parses it natively.

    Raises ValueError with a reason when the value cannot be transformed.
    """
    fmt = contract.format
    steps: list[Callable[[str], str]] = []
    extra_nulls = frozenset(t for t in fmt.null_tokens if t != "")
    if extra_nulls:
        steps.append(lambda v, nulls=extra_nulls: "" if v in nulls or v.strip() in nulls else v)
    if fmt.thousands_separator and col.is_numeric:
        sep = fmt.thousands_separator
        steps.append(lambda v, sep=sep: v.replace(sep, ""))
    if col.is_temporal and col.date_format and col.date_format not in NATIVE_DATE_FORMATS:
        steps.append(_strptime_transform(col))
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def chain(v: str, steps=tuple(steps)) -> str:
        for step in steps:
            if v:
                v = step(v)
        return v

    return chain


def datestyle_for(contract: Contract) -> str:
    """The PostgreSQL DateStyle under which the contract's native date formats parse correctly."""
    styles = {NATIVE_DATE_FORMATS[c.date_format] for c in contract.columns if c.date_format in NATIVE_DATE_FORMATS}
    if len(styles) > 1:
        # Mixed MDY and DMY columns: the non-ISO ones are parsed in Python instead.
        return "ISO, YMD"
    return styles.pop() if styles else "ISO, MDY"


class _RowShaper:
    """Maps a source record (list of strings) to the target row; validates what PostgreSQL can't.

    A target row is a tuple ``(str(source_line), value_1, …, value_n)`` in contract column order,
    with ``''`` meaning NULL.
    """

    def __init__(self, contract: Contract, indexes: list[int | None], width: int | None):
        self.width = width
        columns = contract.columns
        if all(i is not None for i in indexes):
            # the line number is appended to the record, then one C-level itemgetter builds the row
            self.pick = itemgetter(-1, *indexes)
        else:  # some nullable columns are absent from this file: fill with NULL
            idx = list(indexes)
            self.pick = lambda fields, idx=idx: (fields[-1], *(fields[i] if i is not None else "" for i in idx))
        self.required = [(pos + 1, col.name) for pos, col in enumerate(columns) if not col.nullable]
        style = datestyle_for(contract)
        self.transforms = []
        # date/time values PostgreSQL parses itself (no strptime here): refuse its special inputs
        self.native_temporal = []
        for pos, col in enumerate(columns):
            fn = _value_transform(col, contract)
            strptime = bool(col.date_format) and col.date_format not in NATIVE_DATE_FORMATS
            if fn is None and col.date_format in NATIVE_DATE_FORMATS and NATIVE_DATE_FORMATS[col.date_format] != style:
                # a native format whose DateStyle conflicts with another column's: parse in Python
                fn = _strptime_transform(col)
                strptime = True
            if fn is not None:
                self.transforms.append((pos + 1, col.name, fn))
            if col.is_temporal and not strptime:
                self.native_temporal.append((pos + 1, col.name))

    def shape(self, fields: list[str], line: int, rejects: list[Reject]) -> tuple | None:
        if self.width is not None and len(fields) != self.width:
            rejects.append(Reject(line, None, f"expected {self.width} fields, found {len(fields)}"))
            return None
        fields.append(str(line))
        values = self.pick(fields)
        if self.transforms:
            values = list(values)
            for pos, name, fn in self.transforms:
                raw = values[pos]
                if raw:
                    try:
                        values[pos] = fn(raw)
                    except ValueError as err:
                        rejects.append(Reject(line, name, str(err), raw))
                        return None
            values = tuple(values)
        for pos, name in self.native_temporal:
            raw = values[pos]
            if raw and (word := special_date_word(raw)) is not None:
                rejects.append(Reject(line, name, special_date_reason(word), raw))
                return None
        for pos, name in self.required:
            if not values[pos]:
                rejects.append(Reject(line, name, "required value is empty", ""))
                return None
        return values


def _strptime_transform(col: Column) -> Callable[[str], str]:
    pattern = col.date_format
    iso = "%Y-%m-%d" if col.type == "date" else "%Y-%m-%dT%H:%M:%S"

    def parse_date(v: str) -> str:
        try:
            return datetime.strptime(v.strip(), pattern).strftime(iso)
        except ValueError:
            raise ValueError(f"does not match date format {pattern}") from None

    return parse_date


# ------------------------------------------------------------------ header mapping
def map_header(contract: Contract, header: list[str], stats: ParseStats) -> list[int | None]:
    """Index of each contract column in ``header``; refuses on duplicates or missing required columns."""
    names = [h.strip() for h in header] if contract.format.strip_header else list(header)
    stats.header = names
    seen: dict[str, int] = {}
    dupes = []
    for i, name in enumerate(names):
        if name in seen:
            dupes.append(name)
        seen[name] = i
    if dupes:
        raise FileRefused(f"duplicate column names in header: {', '.join(sorted(set(dupes)))}")
    lowered = {n.lower(): i for i, n in enumerate(names)}
    indexes: list[int | None] = []
    for col in contract.columns:
        index = None
        for candidate in (col.source_name, *col.aliases):
            if candidate in seen:
                index = seen[candidate]
                break
            if candidate.lower() in lowered:
                index = lowered[candidate.lower()]
                break
        indexes.append(index)
    missing = [c for c, i in zip(contract.columns, indexes, strict=True) if i is None]
    required_missing = [c.source_name for c in missing if not c.nullable]
    if required_missing:
        raise FileRefused(
            f"missing required column(s) {', '.join(required_missing)}; header has: {', '.join(names)[:300]}"
        )
    if missing and contract.schema_evolution.missing_nullable_columns == "refuse":
        raise FileRefused(f"missing column(s) {', '.join(c.source_name for c in missing)}")
    stats.missing_columns = [c.source_name for c in missing]
    used = {i for i in indexes if i is not None}
    stats.extra_columns = [n for i, n in enumerate(names) if i not in used]
    if stats.extra_columns and contract.schema_evolution.extra_columns == "refuse":
        raise FileRefused(f"undeclared column(s) {', '.join(stats.extra_columns)[:300]} (schema_evolution: refuse)")
    return indexes


# ------------------------------------------------------------------ CSV
class _LineCapture:
    """Feeds lines to csv.reader while remembering the raw lines of the current record."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self.pending: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.pending.append(line)
        return line

    def take(self) -> str:
        text = "".join(self.pending)
        self.pending = []
        return text


def _csv_reader(text: io.TextIOWrapper, contract: Contract, capture: _LineCapture | None):
    fmt = contract.format
    source = capture if capture is not None else text
    return csv.reader(source, delimiter=fmt.delimiter, quotechar=fmt.quote, doublequote=True, strict=False)


def parse_csv(
    text: io.TextIOWrapper, contract: Contract, stats: ParseStats, *, capture_lines: set[int] | None = None
) -> Iterator[Batch]:
    """Yield batches of shaped rows. With ``capture_lines``, yield instead ``(line, raw_text, values)``
    tuples for those source lines (the second pass that explains rejected rows)."""
    fmt = contract.format
    offset = 0
    for _ in range(fmt.skip_lines):
        if not text.readline():
            break
        offset += 1
    capture = _LineCapture(iter(text)) if capture_lines is not None else None
    reader = _csv_reader(text, contract, capture)
    try:
        if fmt.header:
            header = next(reader, None)
            while header is not None and not any(h.strip() for h in header):
                header = next(reader, None)  # blank lines before the header
            if header is None:
                raise FileRefused("file is empty: no header line")
            header_end = reader.line_num
            if fmt.unpivot:
                yield from _parse_unpivot(reader, contract, stats, header, offset, header_end, capture, capture_lines)
                return
            indexes = map_header(contract, header, stats)
            width = len(header)
        else:
            header_end = 0
            indexes = [c.position - 1 for c in contract.columns]
            width = None
            max_pos = max(indexes) + 1
        if capture is not None:
            capture.take()
        shaper = _RowShaper(contract, indexes, width)
        prev_end = header_end
        batch = Batch()
        skip_blank = fmt.skip_blank_rows
        for fields in reader:
            end = reader.line_num
            line = offset + prev_end + 1
            prev_end = end
            if not fields or (skip_blank and not any(fields)):
                stats.blank_rows += bool(fields)
                if capture is not None:
                    capture.take()
                continue
            if capture is not None:
                raw = capture.take()
                if line in capture_lines:
                    local: list[Reject] = []
                    yield (line, raw, _shape_lenient(shaper, fields, line, width, local))
                continue
            if width is None and len(fields) < max_pos:
                batch.rejects.append(Reject(line, None, f"expected at least {max_pos} fields, found {len(fields)}"))
                continue
            row = shaper.shape(fields, line, batch.rejects)
            if row is not None:
                batch.rows.append(row)
            if len(batch.rows) + len(batch.rejects) >= BATCH_ROWS:
                yield batch
                batch = Batch()
        if batch.rows or batch.rejects:
            yield batch
    except csv.Error as err:
        raise FileRefused(f"unparseable CSV near line {offset + reader.line_num}: {err} (unbalanced quote?)") from None


def _shape_lenient(shaper: _RowShaper, fields: list[str], line: int, width: int | None, rejects: list[Reject]):
    """Target values of a record for explaining rejects (None when it cannot be shaped)."""
    if width is not None and len(fields) != width:
        return None
    try:
        return shaper.shape(fields, line, rejects)
    except IndexError:
        return None


def _parse_unpivot(reader, contract, stats, header, offset, header_end, capture, capture_lines):
    """Wide → long: one row per non-empty value cell (the unit counted as a row read)."""
    spec = contract.format.unpivot
    names = [h.strip() for h in header] if contract.format.strip_header else list(header)
    stats.header = names
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FileRefused(f"duplicate column names in header: {', '.join(dupes)}")
    id_cols = [contract.column(n) for n in spec.id_columns]
    id_idx = []
    for col in id_cols:
        found = next((names.index(c) for c in (col.source_name, *col.aliases) if c in names), None)
        if found is None and not col.nullable:
            raise FileRefused(f"missing required column {col.source_name}; header has: {', '.join(names)[:300]}")
        id_idx.append(found)
    pattern = re.compile(spec.columns_matching)
    used = {i for i in id_idx if i is not None}
    value_idx = [i for i, n in enumerate(names) if i not in used and pattern.search(n)]
    if not value_idx:
        raise FileRefused(f"no value columns match {spec.columns_matching!r}; header has: {', '.join(names)[:300]}")
    stats.extra_columns = [n for i, n in enumerate(names) if i not in used and i not in set(value_idx)]
    order = [c.name for c in contract.columns]
    null_tokens = frozenset(contract.format.null_tokens)
    value_col = contract.column(spec.value_column)
    id_transforms = [_value_transform(c, contract) for c in id_cols]
    id_native_temporal = [c.is_temporal and (not c.date_format or c.date_format in NATIVE_DATE_FORMATS) for c in id_cols]
    value_transform = _value_transform(value_col, contract)
    name_col = contract.column(spec.name_column)
    special_names = {  # a header name that is a special date/time input (unpivoted into a date column)
        i: special_date_reason(word) for i in value_idx
        if name_col.is_temporal and (word := special_date_word(names[i])) is not None
    }
    width = len(names)
    if capture is not None:
        capture.take()
    prev_end = header_end
    batch = Batch()
    for fields in reader:
        line = offset + prev_end + 1
        prev_end = reader.line_num
        if not fields:
            if capture is not None:
                capture.take()
            continue
        if capture is not None:
            raw = capture.take()
            if line in capture_lines:
                yield (line, raw, None)
            continue
        if len(fields) != width:
            batch.rejects.append(Reject(line, None, f"expected {width} fields, found {len(fields)}"))
            continue
        ids = {}
        reject = None
        for col, idx, fn, native in zip(id_cols, id_idx, id_transforms, id_native_temporal, strict=True):
            value = fields[idx] if idx is not None else ""
            if value and fn is not None:
                try:
                    value = fn(value)
                except ValueError as err:
                    reject = Reject(line, col.name, str(err), value)
                    break
            if value and native and (word := special_date_word(value)) is not None:
                reject = Reject(line, col.name, special_date_reason(word), value)
                break
            if not value and not col.nullable:
                reject = Reject(line, col.name, "required value is empty", "")
                break
            ids[col.name] = value
        if reject is not None:
            batch.rejects.append(reject)
            continue
        for i in value_idx:
            cell = fields[i]
            if cell in null_tokens or cell.strip() in null_tokens:
                continue
            if i in special_names:
                batch.rejects.append(Reject(line, name_col.name, special_names[i], names[i]))
                continue
            if value_transform is not None:
                try:
                    cell = value_transform(cell)
                except ValueError as err:
                    batch.rejects.append(Reject(line, value_col.name, str(err), cell))
                    continue
            record = dict(ids)
            record[spec.name_column] = names[i]
            record[spec.value_column] = cell
            batch.rows.append((str(line), *(record[n] for n in order)))
        if len(batch.rows) + len(batch.rejects) >= BATCH_ROWS:
            yield batch
            batch = Batch()
    if batch.rows or batch.rejects:
        yield batch


# ------------------------------------------------------------------ JSON Lines
def json_depth(text: str) -> int:
    """The deepest nesting of arrays/objects in a JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _json_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def parse_jsonl(
    text: io.TextIOWrapper, contract: Contract, stats: ParseStats, *, capture_lines: set[int] | None = None
) -> Iterator[Batch]:
    """One JSON object per line; keys map to columns by ``source``/aliases; absent keys are NULL."""
    lookups = [(col.source_name, *col.aliases) for col in contract.columns]
    max_depth = contract.limits.max_json_depth
    shaper = _RowShaper(contract, list(range(len(contract.columns))), None)
    stats.header = [k[0] for k in lookups]
    batch = Batch()
    for line_no, line in enumerate(text, start=1):
        if not line.strip():
            continue
        if capture_lines is not None and line_no not in capture_lines:
            continue
        try:
            if line.count("[") + line.count("{") > max_depth and json_depth(line) > max_depth:
                raise ValueError(f"nested deeper than {max_depth} levels (limits.max_json_depth)")
            obj = json.loads(line)
        except RecursionError:
            reason = "invalid JSON: nested too deeply to parse"
            if capture_lines is not None:
                yield (line_no, line, None)
            else:
                batch.rejects.append(Reject(line_no, None, reason))
            continue
        except ValueError as err:
            reason = f"invalid JSON: {getattr(err, 'msg', err)}"
            if capture_lines is not None:
                yield (line_no, line, None)
            else:
                batch.rejects.append(Reject(line_no, None, reason))
            continue
        if not isinstance(obj, dict):
            if capture_lines is not None:
                yield (line_no, line, None)
            else:
                batch.rejects.append(Reject(line_no, None, f"expected a JSON object, found {type(obj).__name__}"))
            continue
        fields = []
        for keys in lookups:
            value = None
            for key in keys:
                if key in obj:
                    value = obj[key]
                    break
            fields.append(_json_text(value))
        if capture_lines is not None:
            yield (line_no, line, shaper.shape(fields, line_no, []))
            continue
        row = shaper.shape(fields, line_no, batch.rejects)
        if row is not None:
            batch.rows.append(row)
        if len(batch.rows) + len(batch.rejects) >= BATCH_ROWS:
            yield batch
            batch = Batch()
    if batch.rows or batch.rejects:
        yield batch


# ------------------------------------------------------------------ Parquet
def parse_parquet(
    path, contract: Contract, stats: ParseStats, *, capture_lines: set[int] | None = None
) -> Iterator[Batch]:
    """Columns by name (``source``/aliases); values rendered as strings for PostgreSQL to type."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise FileRefused(f"not a readable Parquet file: {err}") from None
    names = parquet.schema_arrow.names
    indexes = map_header(contract, names, stats)
    present = sorted({i for i in indexes if i is not None})
    position = {src: pos for pos, src in enumerate(present)}
    shaper = _RowShaper(contract, [position.get(i) if i is not None else None for i in indexes], None)
    row_no = 0
    try:
        for record_batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[names[i] for i in present]):
            columns = []
            for array in record_batch.columns:
                as_text = pc.cast(array, pa.string()) if not pa.types.is_string(array.type) else array
                columns.append(["" if v is None else v for v in as_text.to_pylist()])
            batch = Batch()
            for fields in zip(*columns, strict=True):
                row_no += 1
                if capture_lines is not None:
                    if row_no in capture_lines:
                        raw = json.dumps(dict(zip([names[i] for i in present], fields, strict=True)))
                        yield (row_no, raw, shaper.shape(list(fields), row_no, []))
                    continue
                row = shaper.shape(list(fields), row_no, batch.rejects)
                if row is not None:
                    batch.rows.append(row)
            if capture_lines is None and (batch.rows or batch.rejects):
                yield batch
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as err:
        raise FileRefused(f"corrupt Parquet data after row {row_no}: {err}") from None
