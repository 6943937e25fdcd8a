"""Run the benchmarks (what ``make bench`` runs) and write ``SUMMARY.md`` beside their results.

    python bench/run_all.py                 # full sizes (about 25-30 min on 2 cores), results in bench/results/
    python bench/run_all.py --quick         # small sizes, a smoke run (about 5 min); results in a temp dir
    python bench/run_all.py --only demo     # one benchmark (repeat --only, or comma-separate, for more)

Each benchmark runs as its own subprocess (its output streams through); its last printed line and its
``<name>.json`` give the summary row. Benchmarks not run this time keep the row of their latest result
file, marked with its date. ``bench/code_location.py`` is run when it exists.

``--quick`` writes its results (JSON + SUMMARY.md) to a temporary directory (or ``--results-dir``) so a
smoke run never overwrites the full-size results in bench/results/.

A run that writes bench/results/ also copies SUMMARY.md's table, date and machine into README.md's
performance section (between the ``bench:summary`` markers), so README shows the latest ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.common import RESULTS_DIR, RESULTS_ENV, machine, results_dir  # noqa: E402

README = BENCH.parent / "README.md"
README_START = "<!-- bench:summary:start (bench/run_all.py writes this block) -->"
README_END = "<!-- bench:summary:end -->"

# name -> (full-size arguments, quick arguments)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "ingest": ([], ["--rows", "100000", "--repeat", "1"]),
    "dbt_incremental": ([], ["--sales", "20000"]),
    "demo": ([], ["--scales", "1"]),
    "code_location": ([], ["--quick"]),  # the --quick flag is passed only if its --help mentions it
    "api": ([], ["--seconds", "5", "--ids", "100"]),
    "streaming": ([], ["--files", "3", "--interval", "10"]),
    "big_delivery": ([], ["--scale", "1"]),
}


def available() -> list[str]:
    return [name for name in BENCHMARKS if (BENCH / f"{name}.py").exists()]


def run_one(name: str, quick: bool, env: dict) -> dict:
    script = BENCH / f"{name}.py"
    args = list(BENCHMARKS[name][1] if quick else BENCHMARKS[name][0])
    if quick and name == "code_location":
        helptext = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, env=env)
        if "--quick" not in helptext.stdout:
            args = []
    cmd = [sys.executable, str(script), *args]
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    started = time.perf_counter()
    last = ""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                          cwd=BENCH.parent, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.strip():
                last = line.strip()
    seconds = time.perf_counter() - started
    print(f"=== {name}: exit {proc.returncode} in {seconds:.0f} s", flush=True)
    return {"name": name, "args": args, "returncode": proc.returncode, "seconds": round(seconds, 1), "last_line": last}


# ------------------------------------------------------------------------------------------ summary rows
def _fmt(value, digits=0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def row_ingest(r: dict) -> tuple[str, str, str]:
    head = (f"loader {_fmt(r.get('loader_rows_per_s'))} rows/s on {_fmt(r.get('rows'))} rows "
            f"({r.get('file_mb')} MB, S3 → COPY), peak RSS {_fmt(max(r.get('peak_rss_mb') or [0]))} MB")
    base = f"`psql \\copy` of the same file from local disk: {_fmt(r.get('psql_rows_per_s'))} rows/s"
    return head, base, f"{r.get('ratio_vs_psql_copy')} (psql time / loader time; ≥ 1 = loader as fast)"


def row_dbt_incremental(r: dict) -> tuple[str, str, str]:
    steps = r.get("steps", {})
    dbt_rss = max((steps.get(k, {}).get("peak_rss_mb", 0) for k in ("dbt_build_full", "dbt_build_incremental")),
                  default=0)
    pg = max((s.get("warehouse_peak_pss_mb", 0) for s in steps.values()), default=0)
    head = (f"incremental `dbt build` {_fmt(r.get('incremental_s'), 1)} s after one more day "
            f"({_fmt(r.get('new_rows'))} new fct_sales rows) on {_fmt(r.get('raw_sales'))} sales; "
            f"peak RSS dbt {_fmt(dbt_rss)} MB, warehouse {_fmt(pg)} MB (PSS)")
    base = f"full `dbt build` of the same warehouse: {_fmt(r.get('full_s'), 1)} s"
    verdict = "meets" if r.get("meets_target") else "misses"
    return head, base, f"{r.get('incremental_over_full')} (target ≤ {r.get('target_ratio')}: {verdict})"


def row_demo(r: dict) -> tuple[str, str, str]:
    runs = r.get("runs", {})
    parts = []
    for name, run in runs.items():
        sales = run.get("row_counts", {}).get("marts.fct_sales")
        parts.append(f"{name} (scale {run['scale']}, {_fmt(sales)} sales): {_fmt(run['seconds'], 1)} s, "
                     f"peak RSS {_fmt(run['peak_rss_mb'])} MB")
    default = runs.get("default")
    base = f"demo at the default scale: {_fmt(default['seconds'], 1)} s" if default else "-"
    ratio = r.get("ratio")
    return "; ".join(parts), base, ("-" if ratio is None else f"{ratio} (10x scale / default)")


def row_code_location(r: dict) -> tuple[str, str, str]:
    load, base = r.get("load_s"), r.get("baseline_import_s")
    head = (f"fresh process loading `orchestration.definitions:defs`: {_fmt(load, 2)} s median of {r.get('repeat')} "
            f"({r.get('assets')} assets" + (f"; limit {r['limit_s']} s)" if r.get("limit_s") else ")"))
    ratio = f"{load / base:.2f} (load / bare import)" if load and base else "-"
    return head, f"fresh `import dagster, dagster_dbt`: {_fmt(base, 2)} s", ratio


def row_api(r: dict) -> tuple[str, str, str]:
    cached, uncached, direct = r.get("cached", {}), r.get("uncached", {}), r.get("direct_sql", {})
    head = (f"property lookups at {r.get('clients')} clients ({r.get('workers')} API workers): cached "
            f"{_fmt(cached.get('rps'))} req/s, p99 {_fmt(cached.get('p99_ms'), 1)} ms; cache off "
            f"{_fmt(uncached.get('rps'))} req/s, p99 {_fmt(uncached.get('p99_ms'), 1)} ms; errors "
            f"{cached.get('errors', 0) + uncached.get('errors', 0)}")
    speedup = cached["rps"] / uncached["rps"] if cached.get("rps") and uncached.get("rps") else None
    return (head, f"the same queries through a psycopg pool: {_fmt(direct.get('qps'))} lookups/s",
            f"{speedup:.1f} (cached / uncached req/s; target ≥ 3)" if speedup else "-")


def row_streaming(r: dict) -> tuple[str, str, str]:
    head = (f"S3 put → rows in marts.fct_sales through SQS and the sensor in a Dagster daemon: p50 "
            f"{_fmt(r.get('landing_to_mart_p50_s'), 1)} s, p95 {_fmt(r.get('landing_to_mart_p95_s'), 1)} s over "
            f"{r.get('files')} files every {r.get('interval_s')} s ({r.get('runs')} runs); lost {r.get('lost')}, "
            f"duplicated {r.get('duplicated')}")
    base = f"`terraminer ingest` + `dbt build` of the same selection, no Dagster: {_fmt(r.get('baseline_ingest_plus_dbt_s'), 1)} s"
    return head, base, f"{r.get('p50_over_baseline_ratio')} (p50 / baseline)"


def row_big_delivery(r: dict) -> tuple[str, str, str]:
    head = (f"incremental `dbt build` {_fmt(r.get('incremental_s'), 1)} s after NYC + UK "
            f"({_fmt(r.get('delivered_rows'))} new fct_sales rows) on a demo warehouse of "
            f"{_fmt(r.get('fct_sales_rows_before'))} sales")
    ratio = r.get("incremental_over_full")
    return (head, f"`dbt build --full-refresh` of the same warehouse: {_fmt(r.get('full_s'), 1)} s",
            f"{ratio} (target ≤ 1: {'meets' if ratio is not None and ratio <= 1 else 'not met'})")


def row_generic(r: dict) -> tuple[str, str, str]:
    scalars = {k: v for k, v in r.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    ratio_keys = [k for k in scalars if "ratio" in k]
    base_keys = [k for k in scalars if "baseline" in k]
    head = ", ".join(f"{k}={v}" for k, v in scalars.items() if k not in ratio_keys + base_keys)
    base = ", ".join(f"{k}={scalars[k]}" for k in base_keys) or "-"
    ratio = ", ".join(f"{k}={scalars[k]}" for k in ratio_keys) or "-"
    return head or "-", base, ratio


ROWS = {"ingest": row_ingest, "dbt_incremental": row_dbt_incremental, "demo": row_demo,
        "code_location": row_code_location, "api": row_api, "streaming": row_streaming,
        "big_delivery": row_big_delivery}


def write_summary(directory: Path, runs: dict[str, dict], quick: bool) -> Path:
    lines = [
        "# Benchmark summary",
        "",
        f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}" + (" (quick smoke run: small sizes)" if quick else ""),
        "",
        "| benchmark | headline figures | baseline | ratio | wall time |",
        "|---|---|---|---|---|",
    ]
    for name in available():
        path = directory / f"{name}.json"
        run = runs.get(name)
        if run is not None and run["returncode"] != 0:
            lines.append(f"| {name} | FAILED (exit {run['returncode']}): {run['last_line'][:200]} | - | - | "
                         f"{run['seconds']:.0f} s |")
            continue
        if not path.exists():
            lines.append(f"| {name} | not run | - | - | - |")
            continue
        result = json.loads(path.read_text())
        head, base, ratio = ROWS.get(name, row_generic)(result)
        if run is None:
            head += f" *(latest result, {result.get('measured_at', '?')})*"
            wall = "-"
        else:
            wall = f"{run['seconds']:.0f} s"
        lines.append(f"| {name} | {head} | {base} | {ratio} | {wall} |".replace("\n", " "))
    lines += ["", "Last line each benchmark printed (this run):", ""]
    lines += [f"- `{name}`: `{run['last_line']}`" for name, run in runs.items()] or ["- (none run)"]
    m = machine()
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, Python {m['python']}, "
              f"{m['platform']}", ""]
    path = directory / "SUMMARY.md"
    path.write_text("\n".join(lines))
    return path


def readme_block(summary: str) -> str:
    """What README shows of a SUMMARY.md: its date, table and machine lines."""
    lines = summary.splitlines()

    def starting(prefix: str) -> list[str]:
        return [line for line in lines if line.startswith(prefix)]

    return "\n".join([*starting("Date:"), "", *starting("|"), "", *starting("Machine:")])


def update_readme(summary: Path, readme: Path = README) -> bool:
    """Replace README's block between the markers with ``summary``'s; False when it has no markers."""
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    block = readme_block(summary.read_text())
    readme.write_text(f"{text[:start + len(README_START)]}\n{block}\n{text[end:]}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)}); repeat or comma-separate")
    parser.add_argument("--results-dir", type=Path,
                        help="where results and SUMMARY.md go (default bench/results/, or a temp dir with --quick)")
    args = parser.parse_args(argv)

    names = available()
    if args.only:
        wanted = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            parser.error(f"unknown or absent benchmark(s) {unknown}: choose from {names}")
        names = [n for n in names if n in wanted]
    directory = args.results_dir or (Path(tempfile.mkdtemp(prefix="tmbench-", dir="/tmp")) if args.quick
                                     else results_dir())
    directory.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **{RESULTS_ENV: str(directory.resolve())})

    started = time.perf_counter()
    runs = {name: run_one(name, args.quick, env) for name in names}
    summary = write_summary(directory, runs, args.quick)
    print(f"\n{summary.read_text()}")
    print(f"summary: {summary} (all benchmarks in {time.perf_counter() - started:.0f} s)")
    if directory.resolve() == RESULTS_DIR.resolve() and update_readme(summary):
        print(f"README.md: performance table updated from {summary}")
    failed = [name for name, run in runs.items() if run["returncode"] != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
