"""`terraminer avm evaluate --dataset king_county`: the whole chain on the public King County
feed (ingest → dbt features → train on sales before 2015-02-01 → test on every sale from then on),
through the CLI a user runs. Skips without ../shared/data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import shared_data

XDIST_WEIGHT = 125  # seconds on 2 cores: conftest starts heavy files first
LINE = re.compile(r"^mdape=(\d\.\d{4}) ppe10=(\d\.\d{4}) ppe20=(\d\.\d{4}) coverage80=(\d\.\d{4}) n_test=(\d+)$")


def test_king_county_evaluation_meets_the_bar():
    data = shared_data()
    home = Path(tempfile.mkdtemp(prefix="tmk-", dir="/tmp"))
    terraminer = str(Path(sys.executable).parent / "terraminer")
    env = {**os.environ, "TERRAMINER_ENV": "ci", "TERRAMINER_HOME": str(home)}
    for key in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "DBT_TARGET", "MLFLOW_TRACKING_URI", "DAGSTER_HOME"):
        env.pop(key, None)
    try:
        proc = subprocess.run([terraminer, "avm", "evaluate", "--dataset", "king_county", "--data-dir", str(data)],
                              env=env, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        last = proc.stdout.strip().splitlines()[-1]
        match = LINE.match(last)
        assert match, last
        mdape, ppe10, ppe20, coverage, n_test = (float(g) for g in match.groups())
        print(last)
        assert n_test == 6002  # every King County sale dated on or after 2015-02-01
        # issue 20's bar (the product's defaults; the split and the seeds are fixed, so the line is too)
        assert mdape <= 0.078
        assert ppe10 >= 0.60
        assert ppe10 <= ppe20
        assert 0.78 <= coverage <= 0.82
    finally:
        subprocess.run([terraminer, "down"], env=env, capture_output=True, text=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)
