"""The CSV fast path: stream the file's own bytes into ``COPY … (FORMAT csv)``.

When a CSV file's header maps onto the contract without any transformation, parsing it in Python
only to re-serialise it would cost more than the load itself. Instead the bytes after the header
go to PostgreSQL unchanged, and PostgreSQL's COPY does the per-row validation: field count, types
(``ON_ERROR ignore`` reports type errors), NOT NULL. Each record must be one physical line (checked
here with a vectorised quote-parity scan), so the record's line number can be prefixed to each
line with a few bytes operations. The file must also mean to COPY exactly what it means to the
parsing path: quotes only around whole fields (COPY strips a stray quote inside an unquoted field,
the csv module keeps it) and no special date/time input (``today``, ``now``, ``infinity``…) in a
date/time column (PostgreSQL accepts them; the parsing path rejects them). Anything unusual (a type
error, a wrong field count, an embedded newline, a NUL byte, invalid UTF-8, CR-only line ends)
makes the caller roll back and reload the file through the parsing path, which explains every
rejected row. Clean files, the common case, never pay for Python row handling.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ingestion.contract import NATIVE_DATE_FORMATS, Contract
from ingestion.parsing import SPECIAL_DATE_WORDS, ParseStats, map_header, special_date_word

CHUNK = 1 << 20


class Fallback(Exception):
    """The fast path does not apply to this file; load it through the parsing path."""


def eligible(contract: Contract) -> bool:
    """Contract-level conditions (file-level ones are checked while streaming)."""
    fmt = contract.format
    if fmt.type != "csv" or fmt.unpivot or fmt.skip_blank_rows or fmt.thousands_separator:
        return False
    if fmt.encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "ascii"):
        return False
    if set(fmt.null_tokens) != {""}:
        return False
    for col in contract.columns:
        if col.date_format and col.date_format not in NATIVE_DATE_FORMATS:
            return False
    styles = {NATIVE_DATE_FORMATS[c.date_format] for c in contract.columns if c.date_format}
    if len(styles) > 1:
        return False
    if not fmt.header:
        positions = [c.position for c in contract.columns]
        if positions != list(range(1, len(positions) + 1)):
            return False
    return True


@dataclass
class Plan:
    columns: list[str]  # target columns in file order, after the leading _row_number
    first_data_line: int  # physical line number of the first record
    body: Iterator[bytes]  # chunks after the header, each ending at a record boundary
    stats: ParseStats
    counter: LineCounter


# Each special date word (see parsing.special_date_word) not followed by a letter, searched in a
# lower-cased chunk: one pattern per word starts with a literal, which the regex engine finds fast.
_SPECIAL_DATE_PATTERNS = tuple(
    (w.encode(), re.compile(re.escape(w.encode()) + rb"(?![a-z])")) for w in SPECIAL_DATE_WORDS
)
# Every special word contains one of these letters: a chunk without them needs no closer look.
_SPECIAL_DATE_LETTERS = (b"o", b"y", b"O", b"Y")
assert all(any(c in w.encode() for c in _SPECIAL_DATE_LETTERS) for w in SPECIAL_DATE_WORDS)
_LOWER_LETTERS = frozenset(range(ord("a"), ord("z") + 1))


class LineCounter:
    """Counts records in the streamed chunks and proves each is one line of plainly quoted CSV that
    COPY reads exactly as the parsing path (Python's csv module) would."""

    def __init__(self, quote: bytes, delimiter: bytes = b",", temporal: tuple[int, ...] = ()):
        self.quote = np.uint8(quote[0])
        self.delimiter = np.uint8(delimiter[0])
        self.quote_str = quote.decode()
        self.delimiter_str = delimiter.decode()
        self.temporal = temporal  # file-order indexes of date/time columns
        self.records = 0
        self.ends_with_newline = True

    def check(self, chunk: bytes) -> None:
        arr = np.frombuffer(chunk, dtype=np.uint8)
        if b"\x00" in chunk:
            raise Fallback("NUL byte")
        quotes = np.flatnonzero(arr == self.quote)
        newlines = np.flatnonzero(arr == 10)
        if quotes.size:
            # a newline preceded by an odd number of quote characters sits inside a quoted field
            if (np.searchsorted(quotes, newlines) & 1).any():
                raise Fallback("a quoted field spans lines")
            if quotes.size & 1:
                raise Fallback("unbalanced quote")
            self._check_quoting(arr, quotes)
        if self.temporal:
            self._check_special_dates(chunk)
        self.records += int(newlines.size)
        self.ends_with_newline = chunk.endswith(b"\n")

    def _check_quoting(self, arr: np.ndarray, quotes: np.ndarray) -> None:
        """Quotes only around whole fields (doubled inside them). COPY treats a quote anywhere in a
        field as quoting (``ab"c"`` → ``abc``) where the csv module keeps a stray quote in an unquoted
        field as data, so any other layout goes to the parsing path.

        Pairing the quotes by parity, an opening one must start a field (after a delimiter, a
        newline or the chunk start: chunks start at a line start) or directly follow the closing
        one of a doubled quote; a closing one must end a field (before a delimiter, CR, newline or
        the chunk end) or directly precede the next opening one. ``mode='clip'`` maps the positions
        before the chunk start and after its end onto the quote itself, which is allowed."""
        q, d = self.quote, self.delimiter
        before = np.take(arr, quotes[0::2] - 1, mode="clip")
        if not ((before == d) | (before == 10) | (before == q)).all():
            raise Fallback("a quote inside an unquoted field")
        after = np.take(arr, quotes[1::2] + 1, mode="clip")
        if not ((after == d) | (after == 10) | (after == 13) | (after == q)).all():
            raise Fallback("text after a closing quote")

    def _check_special_dates(self, chunk: bytes) -> None:
        """A date/time field holding one of PostgreSQL's special inputs (``today``, ``now``,
        ``infinity``…) would load as the load time or a sentinel: the parsing path rejects it."""
        if not any(letter in chunk for letter in _SPECIAL_DATE_LETTERS):
            return
        lowered = chunk.lower()
        checked: set[int] = set()
        for word, pattern in _SPECIAL_DATE_PATTERNS:
            if word not in lowered:
                continue
            for match in pattern.finditer(lowered):
                pos = match.start()
                if pos and lowered[pos - 1] in _LOWER_LETTERS:
                    continue  # part of a longer word (snow, knowles)
                line_start = chunk.rfind(b"\n", 0, pos) + 1
                if line_start not in checked:  # a whole word: is it in a date/time field?
                    checked.add(line_start)
                    self._check_line(chunk, line_start)

    def _check_line(self, chunk: bytes, line_start: int) -> None:
        line_end = chunk.find(b"\n", line_start)
        line = chunk[line_start : None if line_end < 0 else line_end].decode("utf-8", "replace")
        try:
            fields = next(csv.reader([line], delimiter=self.delimiter_str, quotechar=self.quote_str), [])
        except csv.Error:
            raise Fallback("unusual line: let the parsing path read it") from None
        for i in self.temporal:
            if i < len(fields) and special_date_word(fields[i]) is not None:
                raise Fallback("special date/time input in a date/time column")

    @property
    def total(self) -> int:
        return self.records + (0 if self.ends_with_newline else 1)


def plan(binary: BinaryIO, contract: Contract) -> Plan:
    """Read the preamble and header; raise Fallback unless the body can go to COPY as it is."""
    fmt = contract.format
    buffer = b""
    eof = False

    def fill(minimum_newlines: int) -> None:
        nonlocal buffer, eof
        while buffer.count(b"\n") < minimum_newlines and not eof:
            more = binary.read(CHUNK)
            if not more:
                eof = True
            buffer += more
            if b"\n" not in buffer and b"\r" in buffer:
                raise Fallback("CR line ends")  # classic Mac / old Excel: the parsing path reads them
            if len(buffer) > 64 * CHUNK:
                raise Fallback("header region too large")

    preamble = fmt.skip_lines + (1 if fmt.header else 0)
    fill(preamble + 1)
    pos = 0
    for _ in range(fmt.skip_lines):
        nl = buffer.find(b"\n", pos)
        if nl < 0:
            raise Fallback("short preamble")
        pos = nl + 1
    stats = ParseStats()
    if fmt.header:
        nl = buffer.find(b"\n", pos)
        header_bytes = buffer[pos:] if nl < 0 else buffer[pos : nl + 1]
        if header_bytes.startswith(b"\xef\xbb\xbf"):
            header_bytes = header_bytes[3:]
        try:
            header_text = header_bytes.decode("utf-8")
        except UnicodeDecodeError as err:
            raise Fallback("undecodable header") from err
        if header_text.count(fmt.quote) % 2:
            raise Fallback("quoted newline in header")
        if "\r" in header_text.removesuffix("\r\n"):
            raise Fallback("CR inside the header line")
        try:
            header = next(csv.reader([header_text], delimiter=fmt.delimiter, quotechar=fmt.quote), None)
        except csv.Error as err:
            raise Fallback(f"header: {err}") from None
        if header is None or not any(h.strip() for h in header):
            raise Fallback("no header")  # the parsing path refuses with the exact reason
        indexes = map_header(contract, header, stats)  # raises FileRefused on duplicates / missing required
        if stats.extra_columns:
            raise Fallback("undeclared columns must be dropped")
        by_index = {i: c.name for c, i in zip(contract.columns, indexes, strict=True) if i is not None}
        columns = [by_index[i] for i in range(len(header))]
        pos = len(buffer) if nl < 0 else nl + 1
    else:
        if buffer.startswith(b"\xef\xbb\xbf"):
            pos = 3
        columns = [c.name for c in contract.columns]
    first_data_line = preamble + 1
    temporal_names = {c.name for c in contract.columns if c.is_temporal}
    temporal = tuple(i for i, name in enumerate(columns) if name in temporal_names)
    counter = LineCounter(fmt.quote.encode(), fmt.delimiter.encode(), temporal)
    rest = buffer[pos:]

    def numbered(chunk: bytes) -> bytes:
        """Prefix every record with its source line number (the ``_row_number`` column)."""
        first = first_data_line + counter.records
        counter.check(chunk)
        lines = chunk.split(b"\n")
        tail = lines.pop()  # b"" when the chunk ends with a newline
        if tail:
            lines.append(tail)
        # one bytes format for the whole chunk: ~30 % less CPU than formatting line by line
        count = len(lines)
        args: list = [None] * (2 * count)
        args[0::2] = range(first, first + count)
        args[1::2] = lines
        return (line_format * count) % tuple(args)

    line_format = b"%d" + fmt.delimiter.encode().replace(b"%", b"%%") + b"%b\n"

    def body() -> Iterator[bytes]:
        pending = rest
        done = eof
        while True:
            if not done:
                more = binary.read(CHUNK)
                if more:
                    pending += more
                else:
                    done = True
            if done:
                if pending:
                    yield numbered(pending)
                return
            cut = pending.rfind(b"\n") + 1
            if cut:
                chunk, pending = pending[:cut], pending[cut:]
                yield numbered(chunk)

    return Plan(columns, first_data_line, body(), stats, counter)
