"""The logged AVM travels (issue 20, deliverable 5): in a new virtual environment that has only the
model's logged requirements (no TerraMiner checkout on the path, none of this venv's packages),
``mlflow models serve`` loads the champion from its own artifacts (``code_paths``, skops) and
answers with the estimate and its 80 % interval.

Slow (``make test-slow``): it installs the logged requirements from PyPI into a fresh venv (a few
minutes). Without PyPI it skips and says so.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.common import free_port
from core.settings import Settings
from ml.train import train
from tests.conftest import stop_process_group
from tests.ml.conftest import SERVED_COLUMNS, ask_served_model, synthetic_sales

pytestmark = pytest.mark.slow


def _fresh_venv(folder: Path, requirements: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    try:
        subprocess.run([*pip, "download", "--no-deps", "-d", str(folder / "probe"), "six"], check=True,
                       capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pytest.skip("PyPI is not reachable: cannot build a fresh environment from the logged requirements")
    installed = subprocess.run([*pip, "install", "-r", str(requirements)], capture_output=True, text=True)
    assert installed.returncode == 0, f"the logged requirements do not install:\n{installed.stderr[-3000:]}"
    return folder


@pytest.mark.timeout(1500)
def test_the_champion_serves_from_a_fresh_environment_with_only_its_logged_requirements(tmp_path):
    import mlflow

    settings = Settings(env="ci", home=tmp_path / "home")
    sales = synthetic_sales()
    result = train(settings, sales, dataset="synthetic", log=lambda m: None)
    assert result.promoted

    from ml import tracking

    tracking.configure(settings)
    model_dir = Path(mlflow.artifacts.download_artifacts(f"models:/{tracking.MODEL_NAME}@champion",
                                                         dst_path=str(tmp_path / "model")))
    requirements = (model_dir / "requirements.txt").read_text().split()
    names = {r.split("==")[0].lower() for r in requirements}
    assert {"mlflow", "scikit-learn", "skops"} <= names
    assert all("==" in r for r in requirements), f"unpinned requirement in {requirements}"
    assert "terraminer" not in names

    venv = _fresh_venv(tmp_path / "venv", model_dir / "requirements.txt")
    port = free_port()
    # nothing of this repository or of the test's venv is reachable from the server
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    server = subprocess.Popen(
        [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        rows = sales.drop(columns=["sale_price", "true_value"]).tail(3)
        answer = ask_served_model(server, port, rows, wait_s=300)
        assert list(answer.columns) == ["estimate", "lower", "upper"] and len(answer) == 3
        assert (answer["lower"] < answer["estimate"]).all() and (answer["estimate"] < answer["upper"]).all()
        # the same figures as the model loaded here
        local = mlflow.pyfunc.load_model(str(model_dir)).predict(rows[SERVED_COLUMNS])
        assert answer["estimate"].to_numpy() == pytest.approx(pd.DataFrame(local)["estimate"].to_numpy(), rel=1e-6)
    finally:
        stop_process_group(server)
