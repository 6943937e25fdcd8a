"""Limits that bound memory whatever the input (issue 16): streams, JSON depth, reject log, line map,
early refusal, and the Redshift SQL's exact-version rules. No database: pure functions and bytes."""

from __future__ import annotations

import gzip
import io

import pytest

from ingestion.contract import Limits, load_contracts
from ingestion.landing import MAX_KEY_BYTES, key_problem, ledger_key
from ingestion.parsing import CountingReader, FileRefused, LimitedStream, ReadAhead, Reject, json_depth
from ingestion.writers.base import LineMap, RejectLog, certain_refusal

KC = load_contracts(names=["king_county__sales"])["king_county__sales"]


def _drain(stream) -> int:
    total = 0
    while chunk := stream.read(1 << 20):
        total += len(chunk)
    return total


def test_an_endless_line_is_refused_at_the_limit_not_at_the_end():
    data = b"header\n" + b"x" * (3 << 20)
    stream = LimitedStream(io.BytesIO(data), Limits(max_line_bytes=1 << 20))
    with pytest.raises(FileRefused, match="max_line_bytes"):
        _drain(stream)
    assert stream.total <= (2 << 20) + 7


def test_decompressed_bytes_and_ratio_are_capped():
    packed = gzip.compress(b"1,2,3\n" * (20 << 20), mtime=0)
    raw = CountingReader(io.BytesIO(packed))
    with pytest.raises(FileRefused, match="compression bomb"):
        _drain(LimitedStream(gzip.GzipFile(fileobj=io.BufferedReader(raw)), Limits(), raw))
    small = gzip.compress(b"1,2,3\n" * 1000, mtime=0)
    with pytest.raises(FileRefused, match="max_decompressed_bytes"):
        _drain(LimitedStream(gzip.GzipFile(fileobj=io.BytesIO(small)), Limits(max_decompressed_bytes=100)))


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth('{"a": [[1]], "b": "[[[[\\"["}') == 3
    assert json_depth("[" * 500 + "]" * 500) == 500


def test_reject_log_keeps_the_first_ones_and_counts_all():
    log = RejectLog(3)
    for line in range(1, 11):
        log.add(Reject(line, "price", "bad", "v" * 5000))
    assert log.count == 10 and [r.line for r in log.kept] == [1, 2, 3]
    spooled = list(log.spooled())
    assert [s[0] for s in spooled] == list(range(4, 11)) and all(len(s[3]) == RejectLog.VALUE_CUT for s in spooled)
    log.close()


def test_line_map_stores_runs_and_maps_every_copy_line():
    lines = LineMap()
    sources = [*range(2, 5002), *range(5004, 9000, 2), *range(9001, 20000)]
    for start in range(0, len(sources), 777):
        lines.extend(sources[start : start + 777])
    assert lines.count == len(sources)
    assert [lines.source(n) for n in range(1, len(sources) + 1)] == sources
    assert len(lines._copy) < 2100  # one run per break, not one entry per row


def test_early_refusal_only_when_certain():
    assert certain_refusal(KC, 999, 999, 0) is None  # before the sample
    assert certain_refusal(KC, 10_000, 9_000, 10_000_000) is None  # a million clean rows could follow
    assert "refused after 10000 rows" in certain_refusal(KC, 10_000, 9_000, 100_000)


def test_read_ahead_returns_the_same_bytes_and_raises_the_stream_error():
    data = bytes(range(256)) * 40_000
    reader = ReadAhead(io.BytesIO(data), chunk=4096)
    assert b"".join(iter(lambda: reader.read(1000), b"")) == data
    reader.close()

    class Broken(io.RawIOBase):
        def read(self, n=-1):
            raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output"):
        ReadAhead(Broken()).read(10)


@pytest.mark.parametrize("key", ["a/b\nc.csv", "a/\x00.csv", "a/\udcff.csv", "a/" + "d" * MAX_KEY_BYTES])
def test_keys_the_ledger_cannot_hold_get_a_unique_printable_stand_in(key):
    assert key_problem(key)
    stand_in = ledger_key(key)
    assert key_problem(stand_in) is None and len(stand_in.encode()) <= MAX_KEY_BYTES
    assert ledger_key(key + "x") != stand_in and ledger_key("ok/key.csv") == "ok/key.csv"


def test_default_limits_keep_the_contract_fingerprint():
    changed = KC.model_copy(update={"limits": Limits(max_json_depth=10)})
    assert changed.fingerprint != KC.fingerprint
    assert KC.model_copy(update={"limits": Limits()}).fingerprint == KC.fingerprint
