"""Demo benchmark: wall time and peak memory of ``terraminer demo --fresh`` at the default scale and
at multiples of it (default ``--scales 1,10``: the default scale and 10x it).

Each run gets a fresh ``TERRAMINER_HOME`` under /tmp (short path: unix-socket length limit) and a
clean environment (no inherited ``TERRAMINER_*``, ``DBT_*``, ``PG*``, ``DAGSTER_HOME``, MLflow URI),
so it is exactly what a new user's ``make demo`` does: start the embedded warehouse, generate the
synthetic landing zone, ``dbt parse``, then the whole ``terraminer_pipeline`` job through Dagster
(ingestion, dbt build with tests, AVM training, scoring, valuation marts). Afterwards ``terraminer
down`` stops that home's warehouse and the home is deleted.

Memory: the demo process tree (the CLI process and its children, e.g. dbt) is sampled with psutil
every 0.25 s (summed RSS), and the warehouse server it starts (its own tree, reparented to init) as
summed PSS. The Dagster run's event log gives each step's start and end, so the samples are split
into per-step peaks (setup, ingest, dbt, train, score, dbt_valuations). Per scale one line; last:

    demo_default_s=X demo_10x_s=Y ratio=R peak_rss_mb_default=A peak_rss_mb_10x=B
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import MemorySampler, write_result  # noqa: E402

CLEAN_PREFIXES = ("TERRAMINER_", "DBT_", "PG", "DAGSTER_", "MLFLOW_")
COUNT_LINE = re.compile(r"^\s+(\w+\.\w+)\s+([\d,]+|-) rows$")


def default_scale() -> int:
    from terraminer.cli import build_parser

    return build_parser().parse_args(["demo"]).scale


def category(step_key: str) -> str:
    if step_key.startswith("ingest_"):
        return "ingest"
    if step_key == "ml__avm_model":
        return "train"
    if step_key == "ml__property_valuations":
        return "score"
    if step_key == "terraminer_dbt_valuations":
        return "dbt_valuations"
    if "dbt" in step_key:
        return "dbt"
    return step_key


def step_windows(home: Path) -> list[tuple[str, float, float]]:
    """(step key, start, end) in unix seconds, from the latest run's SQLite event log."""
    runs = sorted((home / "dagster" / "history" / "runs").glob("*.db"), key=lambda p: p.stat().st_mtime)
    runs = [p for p in runs if p.name != "index.db"]
    if not runs:
        return []
    with contextlib.closing(sqlite3.connect(runs[-1])) as db:
        rows = db.execute(
            "select dagster_event_type, timestamp, step_key from event_logs where dagster_event_type in "
            "('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') order by id"
        ).fetchall()
    starts: dict[str, float] = {}
    windows = []
    for kind, stamp, key in rows:
        when = dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).timestamp()
        if kind == "STEP_START":
            starts[key] = when
        elif key in starts:
            windows.append((key, starts.pop(key), when))
    return windows


def run_demo(multiplier: int, scale: int, is_default: bool, keep_log: Path) -> dict:
    home = Path(tempfile.mkdtemp(prefix="tmd-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN_PREFIXES)}
    env.update(TERRAMINER_HOME=str(home), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "terraminer.cli", "demo", "--fresh"]
    if not is_default:
        cmd += ["--scale", str(scale)]
    pid_file = home / "pg" / "data" / "postmaster.pid"

    def server_pid() -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(pid_file.read_text().splitlines()[0])
        return None

    try:
        with open(keep_log, "w") as log:
            began_wall = time.time()
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[1])
            with MemorySampler(proc.pid, server_pid) as sampler:
                _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        output = keep_log.read_text(errors="replace")
        if code != 0:
            tail = "\n".join(output.splitlines()[-40:])
            raise SystemExit(f"demo at scale {scale} failed (exit {code}); log {keep_log}:\n{tail}")
        windows = step_windows(home)
    finally:
        down = subprocess.run([sys.executable, "-m", "terraminer.cli", "down"], env=env, capture_output=True, text=True)
        if down.returncode != 0:
            print(f"warning: terraminer down failed: {down.stderr.strip()}", file=sys.stderr)
        shutil.rmtree(home, ignore_errors=True)

    tree_peak, server_peak = sampler.peaks()
    tree_peak = max(tree_peak, usage.ru_maxrss / 1024)
    steps: dict[str, dict] = {}
    first = min((w[1] for w in windows), default=None)
    last = max((w[2] for w in windows), default=None)
    if first is not None:
        rss, pss = sampler.peaks(began_wall, first)
        steps["setup"] = {"seconds": round(first - began_wall, 2), "peak_rss_mb": round(rss, 1),
                          "warehouse_peak_pss_mb": round(pss, 1)}
    for key, start, end in windows:
        name = category(key)
        rss, pss = sampler.peaks(start, end)
        entry = steps.setdefault(name, {"seconds": 0.0, "peak_rss_mb": 0.0, "warehouse_peak_pss_mb": 0.0,
                                        "dagster_steps": {}})
        entry["seconds"] = round(entry["seconds"] + end - start, 2)
        entry["peak_rss_mb"] = round(max(entry["peak_rss_mb"], rss), 1)
        entry["warehouse_peak_pss_mb"] = round(max(entry["warehouse_peak_pss_mb"], pss), 1)
        entry["dagster_steps"][key] = round(end - start, 2)
    if last is not None:
        rss, pss = sampler.peaks(last, None)
        steps["summary"] = {"seconds": round(began_wall + seconds - last, 2), "peak_rss_mb": round(rss, 1),
                            "warehouse_peak_pss_mb": round(pss, 1)}
    counts = {}
    for line in output.splitlines():
        match = COUNT_LINE.match(line)
        if match and match.group(2) != "-":
            counts[match.group(1)] = int(match.group(2).replace(",", ""))
    combined = max((s[1] + s[2] for s in sampler.samples), default=0.0)
    return {"multiplier": multiplier, "scale": scale, "seconds": round(seconds, 2),
            "peak_rss_mb": round(tree_peak, 1), "max_process_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "warehouse_peak_pss_mb": round(server_peak, 1), "peak_tree_plus_warehouse_mb": round(combined, 1),
            "steps": steps, "row_counts": counts}


def label(multiplier: int) -> str:
    return "default" if multiplier == 1 else f"{multiplier}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,10", help="multiples of the default demo scale (default 1,10)")
    args = parser.parse_args(argv)
    multipliers = [int(m) for m in args.scales.split(",") if m.strip()]
    base = default_scale()
    runs = []
    log_dir = Path(tempfile.mkdtemp(prefix="tmd-logs-", dir="/tmp"))
    for multiplier in multipliers:
        run = run_demo(multiplier, base * multiplier, multiplier == 1, log_dir / f"demo_{label(multiplier)}.log")
        runs.append(run)
        per_step = ", ".join(f"{name} {s['seconds']:.0f} s/{s['peak_rss_mb']:.0f} MB"
                             for name, s in run["steps"].items())
        sales = run["row_counts"].get("marts.fct_sales")
        print(f"scale {run['scale']} ({label(multiplier)}, {sales:,} sales): {run['seconds']:.1f} s, "
              f"peak RSS {run['peak_rss_mb']:.0f} MB (warehouse PSS {run['warehouse_peak_pss_mb']:.0f} MB); "
              f"{per_step}", flush=True)
    shutil.rmtree(log_dir, ignore_errors=True)

    by_label = {label(r["multiplier"]): r for r in runs}
    payload = {"default_scale": base, "scales": [r["scale"] for r in runs], "runs": by_label}
    parts = [f"demo_{name}_s={r['seconds']:.1f}" for name, r in by_label.items()]
    if "default" in by_label and len(by_label) > 1:
        other = next(name for name in by_label if name != "default")
        ratio = by_label[other]["seconds"] / by_label["default"]["seconds"]
        payload["ratio"] = round(ratio, 3)
        parts.append(f"ratio={ratio:.2f}")
    parts += [f"peak_rss_mb_{name}={r['peak_rss_mb']:.0f}" for name, r in by_label.items()]
    path = write_result("demo", payload)
    print(f"results: {path}")
    print(" ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
