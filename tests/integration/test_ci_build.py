"""The warehouse build `make test` runs (also `make dbt-ci`): `dbt seed` + `dbt build` on the ci
target over synthetic feeds (scale 3) plus every real public feed present, then the offline
Redshift parse/compile and the scan for Postgres-only SQL (python -m terraminer.ci dbt).

It runs as a test so that pytest-xdist schedules it beside the other heavy test files instead of
after the whole suite; its own throw-away stack and dbt target path keep it out of their way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from core.settings import project_dir

XDIST_WEIGHT = 200  # seconds on 2 cores: conftest starts heavy files first


def test_dbt_build_on_the_ci_target_then_offline_redshift_compile(tmp_path):
    env = dict(os.environ, DBT_TARGET_PATH=str(tmp_path / "target"), DBT_LOG_PATH=str(tmp_path / "logs"))
    result = subprocess.run([sys.executable, "-m", "terraminer.ci", "dbt"], cwd=project_dir(), env=env,
                            capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    done = re.findall(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+) NO-OP=(\d+) TOTAL=(\d+)", output)
    assert len(done) == 2, output[-3000:]  # seed, then build
    passed, warned, errors, skipped, no_op, total = map(int, done[-1])
    assert (errors, skipped) == (0, 0)
    assert passed + warned + no_op == total
    assert passed >= 300, f"the build ran only {total} nodes"  # models, seeds, snapshot, data and unit tests
    # CI is where the dbt unit tests run (scheduled builds leave them out: orchestration/assets/dbt.py)
    finished = re.findall(r"Finished running .*?(\d+) data tests?, (\d+) unit tests?", output)
    assert finished and int(finished[-1][0]) >= 120 and int(finished[-1][1]) >= 10, finished
    assert "redshift: compiled SQL is portable" in output
    print(f"dbt build on ci: PASS={passed} WARN={warned} NO-OP={no_op} TOTAL={total}")
