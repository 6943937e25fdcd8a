"""Ingestion benchmark: the product loader vs ``psql \\copy`` of the same file, same run.

A deterministic King-County-layout sales CSV (default 1,000,000 rows, ~117 MB) is put in a moto
S3 server (separate process, real HTTP). ``terraminer ingest`` loads it from S3 through the
contract (per-row validation by PostgreSQL's COPY, ledger, exactly-once); ``psql \\copy`` loads the
same file from local disk into an identically typed table: ``LIKE raw.king_county__sales
INCLUDING DEFAULTS`` (contract columns plus the load metadata columns, whose defaults psql's COPY
evaluates too; ``_row_number`` is left NULL since psql cannot number lines). For transparency the
same file is also copied into a bare table of the contract columns only (``psql_bare``).
Each side runs ``--repeat`` times (default 5) on a fresh table, alternating; medians are compared. Memory per run: the
loader's peak RSS (wait4's ru_maxrss) and the warehouse server's peak PSS (sampled). Last line:

    ratio_vs_psql_copy=R loader_rows_per_s=X psql_rows_per_s=Y peak_rss_mb=M
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import MemorySampler, moto_server, peak_rss_mb_of, postmaster_pid, write_result  # noqa: E402

HEADER = (
    "id,date,price,bedrooms,bathrooms,sqft_living,sqft_lot,floors,waterfront,view,condition,grade,"
    "sqft_above,sqft_basement,yr_built,yr_renovated,zipcode,lat,long,sqft_living15,sqft_lot15\n"
)
COLUMNS = [
    "parcel_id", "sale_date", "price", "bedrooms", "bathrooms", "sqft_living", "sqft_lot", "floors", "waterfront",
    "view", "condition", "grade", "sqft_above", "sqft_basement", "yr_built", "yr_renovated", "zipcode", "lat",
    "long", "sqft_living15", "sqft_lot15",
]


def write_sales_csv(path: Path, rows: int, seed: int = 20140502) -> int:
    """King County layout with its quirks (quoted ids/dates/floors/zipcodes, sci-notation prices)."""
    rng = np.random.default_rng(seed)
    chunk = 100_000
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = rng.integers(1_000_000, 9_999_999_999, n)
            days = rng.integers(0, 390, n)
            dates = (np.datetime64("2014-05-02") + days).astype("datetime64[D]").astype(str)
            sqft = rng.integers(400, 6000, n)
            price = (sqft * rng.uniform(150, 450, n)).round(-2).astype(np.int64)
            sci = rng.random(n) < 0.07
            beds = rng.integers(1, 7, n)
            baths = rng.integers(2, 13, n) / 4
            lot = rng.integers(600, 40000, n)
            floors = rng.choice(["1", "1.5", "2", "3"], n)
            cond = rng.integers(1, 6, n)
            grade = rng.integers(4, 13, n)
            basement = np.where(rng.random(n) < 0.4, (sqft * 0.3).astype(int), 0)
            built = rng.integers(1900, 2015, n)
            renov = np.where(rng.random(n) < 0.05, rng.integers(1950, 2015, n), 0)
            zips = rng.integers(98001, 98200, n)
            lat = rng.uniform(47.15, 47.78, n).round(4)
            lon = rng.uniform(-122.52, -121.31, n).round(3)
            liv15 = rng.integers(400, 6000, n)
            lot15 = rng.integers(600, 40000, n)
            lines = []
            for i in range(n):
                p = f"{price[i] / 1e6:.3f}e+006" if sci[i] else str(price[i])
                lines.append(
                    f'"{ids[i]:010d}","{dates[i].replace("-", "")}T000000",{p},{beds[i]},{baths[i]:g},{sqft[i]},'
                    f'{lot[i]},"{floors[i]}",0,0,{cond[i]},{grade[i]},{sqft[i] - basement[i]},{basement[i]},'
                    f'{built[i]},{renov[i]},"{zips[i]}",{lat[i]},{lon[i]},{liv15[i]},{lot15[i]}\n'
                )
            out.write("".join(lines))
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    import boto3
    import psycopg

    from terraminer.stack import pg_bin, temporary_stack

    with temporary_stack("tmb-") as settings, moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "sales.csv"
        size = write_sales_csv(csv_path, args.rows)
        print(f"file: {args.rows:,} rows, {size / 1e6:.1f} MB", flush=True)
        bucket, key = "terraminer-bench", "landing/king_county/sales/2024/01/01/sales.csv"
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=bucket)
        s3.upload_file(str(csv_path), bucket, key)

        env = dict(os.environ, **settings.warehouse.libpq_env(), TERRAMINER_ENV="ci",
                   TERRAMINER_HOME=str(settings.home_dir), AWS_ENDPOINT_URL=endpoint)
        conninfo = settings.warehouse.conninfo()
        loader_s, psql_s, bare_s, rss, pg_pss = [], [], [], [], []
        server = postmaster_pid(settings)
        for attempt in range(1, args.repeat + 1):
            with psycopg.connect(**conninfo, autocommit=True) as conn:
                conn.execute("drop table if exists raw.king_county__sales")
                conn.execute("drop table if exists public.psql_copy")
                if conn.execute("select to_regclass('ingestion_meta.load_ledger')").fetchone()[0]:
                    conn.execute("delete from ingestion_meta.load_ledger")
                conn.execute("checkpoint")
            cmd = [sys.executable, "-m", "terraminer.cli", "ingest", "--landing", f"s3://{bucket}/landing",
                   "--contract", "king_county__sales", "--quiet"]
            with MemorySampler(server, server) as warehouse:  # the server's PSS while the loader runs
                result, peak = peak_rss_mb_of(cmd, env)
            pg_pss.append(round(warehouse.peaks()[1], 1))
            if result.returncode != 0:
                raise SystemExit(f"loader failed: {result.stderr.strip()}")
            with psycopg.connect(**conninfo, autocommit=True) as conn:
                seconds, loaded = conn.execute(
                    "select seconds, rows_loaded from ingestion_meta.load_ledger where status = 'loaded'"
                ).fetchone()
                assert loaded == args.rows, f"loaded {loaded} of {args.rows}"
                conn.execute("drop table if exists public.psql_bare")
                conn.execute("create table public.psql_copy (like raw.king_county__sales including defaults)")
                conn.execute("alter table public.psql_copy alter column _row_number drop not null")
                conn.execute("create table public.psql_bare (like raw.king_county__sales)")
                conn.execute("alter table public.psql_bare drop column _file_key, drop column _file_version, "
                             "drop column _row_number, drop column _loaded_at")
                conn.execute("checkpoint")
            timings = {}
            for table, setup in (
                ("psql_copy", [f"set terraminer.file_key = '{key}'", "set terraminer.file_version = 'psql'"]),
                ("psql_bare", []),
            ):
                copy = (f"\\copy public.{table} ({', '.join(COLUMNS)}) from '{csv_path}' "
                        "with (format csv, header true)")
                psql_cmd = [str(pg_bin("psql")), "-q", "-v", "ON_ERROR_STOP=1"]
                for statement in [*setup, copy]:
                    psql_cmd += ["-c", statement]
                # sampled like the loader's runs, so both sides share the machine with the sampler
                with MemorySampler(server, server):
                    started = time.perf_counter()
                    subprocess.run(psql_cmd, env=env, check=True)
                    timings[table] = time.perf_counter() - started
            loader_s.append(float(seconds))
            psql_s.append(timings["psql_copy"])
            bare_s.append(timings["psql_bare"])
            rss.append(peak)
            print(f"run {attempt}: loader {float(seconds):.2f} s (peak RSS {peak:.0f} MB), psql \\copy "
                  f"{timings['psql_copy']:.2f} s (bare table {timings['psql_bare']:.2f} s)", flush=True)

    loader, psql, bare = statistics.median(loader_s), statistics.median(psql_s), statistics.median(bare_s)
    ratio = psql / loader
    payload = {
        "rows": args.rows, "file_mb": round(size / 1e6, 1), "repeat": args.repeat,
        "loader_seconds": loader_s, "psql_copy_seconds": psql_s, "peak_rss_mb": rss,
        "warehouse_peak_pss_mb": pg_pss,
        "ratio_vs_psql_copy": round(ratio, 3), "loader_rows_per_s": round(args.rows / loader),
        "psql_rows_per_s": round(args.rows / psql),
        "psql_bare_seconds": bare_s, "ratio_vs_psql_copy_bare_table": round(bare / loader, 3),
    }
    path = write_result("ingest", payload)
    print(f"results: {path}")
    print(f"(vs psql \\copy into a bare table of the contract columns: ratio {bare / loader:.2f})")
    print(f"ratio_vs_psql_copy={ratio:.2f} loader_rows_per_s={args.rows / loader:.0f} "
          f"psql_rows_per_s={args.rows / psql:.0f} peak_rss_mb={max(rss):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
