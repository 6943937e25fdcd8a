"""Reading a landing file through its contract's parser (both writers' Python path)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from ingestion.contract import Contract
from ingestion.landing import FileChanged, Landing, LandingObject
from ingestion.parsing import (
    DECOMPRESSION_ERRORS,
    CountingReader,
    FileRefused,
    ParseStats,
    open_binary,
    open_text,
    parse_csv,
    parse_jsonl,
    parse_parquet,
)


@contextlib.contextmanager
def open_batches(
    contract: Contract,
    landing: Landing,
    obj: LandingObject,
    stats: ParseStats,
    *,
    on_progress: Callable[[int], None] | None = None,
    capture_lines: set[int] | None = None,
) -> Iterator:
    """Open the object and yield the format's batch iterator (or, with ``capture_lines``, an
    iterator of ``(line, raw text, values)`` for those source lines)."""
    kind = contract.format.type
    if kind == "parquet":
        with landing.local_path(obj) as path:
            yield parse_parquet(path, contract, stats, capture_lines=capture_lines)
        return
    with contextlib.closing(landing.open(obj)) as raw:
        text = open_text(open_binary(CountingReader(raw, on_progress), contract, obj.key), contract)
        parser = parse_csv if kind == "csv" else parse_jsonl
        yield parser(text, contract, stats, capture_lines=capture_lines)


def capture_lines(contract: Contract, landing: Landing, obj: LandingObject, lines: set[int]) -> dict[int, tuple]:
    """Second pass (only when something was rejected): ``line → (raw text, values)`` of those source
    lines; a file that cannot be read again yields what was found before the error."""
    found: dict[int, tuple] = {}
    with contextlib.suppress(FileRefused, FileChanged, UnicodeError, RecursionError, *DECOMPRESSION_ERRORS):
        with open_batches(contract, landing, obj, ParseStats(), capture_lines=lines) as records:
            for line, raw, values in records:
                found[line] = (raw, values)
    return found
