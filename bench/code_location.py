"""Code-location load benchmark: how long a fresh Python process takes to load
``orchestration.definitions:defs`` (what the Dagster webserver, daemon and every run worker do),
against a baseline in the same run: a fresh process importing dagster and dagster_dbt only (the
floor no code location can go under). The dbt manifest is prepared once beforehand, as in dev and
CI; loading reads it and nothing else. Median of --repeat runs each. Last line:

    load_s=X baseline_import_s=Y overhead_s=Z ratio=R assets=N
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_result  # noqa: E402

LOAD = ("import time; t = time.perf_counter(); from orchestration.definitions import defs; "
        "n = len(defs.resolve_asset_graph().get_all_asset_keys()); "
        "print(time.perf_counter() - t, n)")
BASELINE = "import time; t = time.perf_counter(); import dagster, dagster_dbt; print(time.perf_counter() - t, 0)"


def _time(code: str) -> tuple[float, float, int]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - started
    inner, count = out.stdout.split()
    return wall, float(inner), int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from orchestration.project import prepare_manifest

    prepare_manifest()
    loads, baselines, assets = [], [], 0
    for _ in range(args.repeat):
        wall, _inner, assets = _time(LOAD)
        loads.append(wall)
        baselines.append(_time(BASELINE)[0])
    load, baseline = statistics.median(loads), statistics.median(baselines)
    write_result("code_location", {
        "repeat": args.repeat, "load_s": round(load, 3), "baseline_import_s": round(baseline, 3),
        "loads_s": [round(x, 3) for x in loads], "baselines_s": [round(x, 3) for x in baselines],
        "assets": assets, "limit_s": 5.0,
    })
    print(json.dumps({"loads_s": [round(x, 2) for x in loads], "baselines_s": [round(x, 2) for x in baselines]}))
    print(f"load_s={load:.2f} baseline_import_s={baseline:.2f} overhead_s={load - baseline:.2f} "
          f"ratio={load / baseline:.2f} assets={assets}")


if __name__ == "__main__":
    main()
