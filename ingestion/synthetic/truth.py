"""The planted truth written beside the feeds under ``_truth/``."""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from .recorder import FileStats, SalesFile
from .sales import DaySales

TRUTH_PREFIX = "_truth/"
TRUTH_KEY = "_truth/truth.json"
INDEX_TRUTH_KEY = "_truth/index_monthly.csv"
SALES_TRUTH_KEY = "_truth/sales_truth.csv.gz"
SALES_TRUTH_COLUMNS = ("document_number", "parcel_id", "sale_date", "true_value", "is_arms_length")


def theoretical_mdape(sigma: float) -> float:
    """Median of |1 - exp(-eps)| for eps ~ N(0, sigma): what a perfect model scores against noisy prices."""
    if sigma <= 0:
        return 0.0

    def coverage(m: float) -> float:  # P(|1 - e^-eps| <= m)
        upper = -math.log(1 - m) / sigma
        lower = -math.log(1 + m) / sigma
        return 0.5 * (math.erf(upper / math.sqrt(2)) - math.erf(lower / math.sqrt(2)))

    lo, hi = 0.0, 1.0 - 1e-12
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if coverage(mid) < 0.5 else (lo, mid)
    return (lo + hi) / 2


@dataclass
class TruthRecorder:
    """Streams ``sales_truth.csv.gz`` and accumulates the counts of what the feeds contain."""

    handle: BinaryIO
    counts: dict[str, int] = field(default_factory=dict)
    late_files: list[str] = field(default_factory=list)
    redelivered_files: list[str] = field(default_factory=list)
    uncorrected_files: list[str] = field(default_factory=list)
    _errors: list[np.ndarray] = field(default_factory=list)
    _gz: gzip.GzipFile | None = None

    def __post_init__(self) -> None:
        self._gz = gzip.GzipFile(fileobj=self.handle, mode="wb", mtime=0, filename="", compresslevel=6)
        self._gz.write((",".join(SALES_TRUTH_COLUMNS) + "\n").encode())

    def count(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def add_sales_day(self, sales: DaySales, file: SalesFile, in_file: FileStats) -> None:
        value = np.round(sales.true_value).astype(np.int64)
        arms = sales.arms
        sale_date = sales.day.isoformat()
        rows = (
            f"{doc},{pid},{sale_date},{v},{'true' if a else 'false'}\n"
            for doc, pid, v, a in zip(file.document_numbers, file.parcel_ids, value.tolist(), arms.tolist(),
                                      strict=True)
        )
        assert self._gz is not None
        self._gz.write("".join(rows).encode())
        self._errors.append((np.abs(value[arms] - sales.price[arms]) / sales.price[arms]).astype(np.float64))
        self.count("sales", len(sales))
        self.count("arms_length_sales", int(arms.sum()))
        self.count("sales_files")
        self.count("valid_rows_in_files", in_file.valid_rows)
        self.count("duplicate_rows", in_file.duplicate_rows)
        self.count("malformed_rows", in_file.malformed_rows)
        self.count("spurious_rows", in_file.spurious_rows)
        self.count("perturbed_prices", in_file.perturbed_prices)
        if file.late:
            self.late_files.append(file.key)

    def close(self) -> None:
        if self._gz is not None:
            self._gz.close()
            self._gz = None

    def noise_floor(self) -> float:
        errors = np.concatenate(self._errors) if self._errors else np.zeros(0)
        return float(np.median(errors)) if len(errors) else float("nan")


def dumps(document: dict[str, object]) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()
