"""Big clean files and multi-contract landing zones for the crash and concurrency tests."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from corpus.malformed import KC_COLUMNS, csv_text

SYNTHETIC_CONTRACTS = ["assessor__parcels", "recorder__sales", "mls__listing_events", "hpi__regional_index"]


def kc_big_csv(rows: int, seed: int = 7, bad_every: int = 0) -> bytes:
    """A King County-layout CSV of ``rows`` records (a few MB per 100k rows).

    ``bad_every`` > 0 plants a non-numeric price every that many rows, which sends the file through
    the parsing path (the fast path rolls back and the file is re-read).
    """
    rng = random.Random(seed)
    start = dt.date(2014, 5, 1).toordinal()
    lines = [",".join(KC_COLUMNS) + "\n"]
    for i in range(rows):
        day = dt.date.fromordinal(start + rng.randrange(365)).strftime("%Y%m%d")
        price = "n/a" if bad_every and i % bad_every == bad_every - 1 else str(rng.randrange(80_000, 3_000_000))
        living = rng.randrange(400, 6000)
        lines.append(
            f'"{1000000000 + i}","{day}T000000",{price},{rng.randrange(1, 7)},{rng.choice(("1", "1.75", "2.5"))},'
            f'{living},{rng.randrange(1000, 40000)},"{rng.choice(("1", "1.5", "2"))}",0,{rng.randrange(5)},'
            f"{rng.randrange(1, 6)},{rng.randrange(4, 13)},{living},0,{rng.randrange(1900, 2015)},0,"
            f'"98{rng.randrange(100):03d}",{47 + rng.random():.4f},{-122 - rng.random():.3f},{living},5000\n'
        )
    return "".join(lines).encode()


def write_kc(root: Path, name: str, data: bytes, day: str = "2024/01/15") -> str:
    key = f"king_county/sales/{day}/{name}"
    path = Path(root) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key


def synthetic_landing(root: Path, *, scale: int, days: int, seed: int, malformed_rate: float = 0.01) -> list[str]:
    """Synthetic assessor/recorder/MLS/HPI feeds (with a few malformed and duplicate sale rows)."""
    from ingestion.landing import open_landing
    from ingestion.synthetic import Defects, generate

    summary = generate(
        open_landing(str(root)), scale=scale, seed=seed, start=dt.date(2023, 1, 1), days=days,
        defects=Defects(duplicate_rate=0.01, malformed_rate=malformed_rate),
    )
    return summary.files


def small_kc_files(root: Path, count: int, rows: int = 50) -> list[str]:
    """Several small King County files (replace_file contract, one file per day)."""
    from corpus.malformed import kc_values

    keys = []
    for f in range(count):
        body = csv_text([KC_COLUMNS, *[kc_values(f * 1000 + i) for i in range(rows)]])
        keys.append(write_kc(root, f"kc_{f:03d}.csv", body.encode(), day=f"2024/02/{f % 28 + 1:02d}"))
    return keys
