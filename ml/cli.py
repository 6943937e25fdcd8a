"""``terraminer avm train | score | evaluate``."""

from __future__ import annotations

import os
import subprocess
import sys

from core.errors import TerraMinerError
from core.settings import Settings, project_dir
from core.warehouse import connect

EVALUATIONS = {
    # dataset: (source_system, fixed test start, real feeds to stage)
    "king_county": ("king_county", "2015-02-01", ["king_county"]),
}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _dbt(settings: Settings, args: list[str]) -> None:
    env = dict(os.environ)
    env.update(settings.dbt_env())
    # This stack's own dbt target dir: stacks side by side (and parallel test workers) never
    # write one target/ at the same time.
    env.setdefault("DBT_TARGET_PATH", str(settings.home_dir / "dbt-target"))
    dbt = os.path.join(os.path.dirname(sys.executable), "dbt")
    result = subprocess.run([dbt if os.path.exists(dbt) else "dbt", *args], cwd=project_dir(), env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise TerraMinerError(f"`dbt {' '.join(args)}` failed:\n{tail}")


def cmd_train(args, settings: Settings) -> int:
    from ml.features import load_sales
    from ml.train import train

    dataset = args.dataset or settings.avm_dataset
    with connect(settings) as conn:
        frame = load_sales(conn, dataset)
    result = train(settings, frame, dataset=dataset, test_start=args.test_start, log=_log)
    from ml.metrics import metrics_line

    print(metrics_line({**result.metrics, "n": result.metrics["n"]}))
    return 0


def cmd_score(args, settings: Settings) -> int:
    from ml.score import score

    with connect(settings) as conn:
        result = score(settings, conn, dataset=args.dataset or settings.avm_dataset, log=_log)
        conn.commit()
    print(f"scored={result['rows']} model_version={result['model_version']} valuation_date={result['valuation_date']}")
    return 0


def cmd_evaluate(args, settings: Settings) -> int:
    """The whole chain on a real feed with a fixed split; last line is the metrics line."""
    from ingestion.contract import load_contracts
    from ingestion.landing import open_landing
    from ingestion.real_feeds import default_data_dir, stage_real_feeds
    from ingestion.runner import ingest
    from ml.features import load_sales
    from ml.train import train
    from ml.warehouse import ensure_ml_tables
    from terraminer import roles

    if args.dataset not in EVALUATIONS:
        raise TerraMinerError(f"unknown dataset {args.dataset!r}: choose from {', '.join(EVALUATIONS)}")
    source_system, test_start, feeds = EVALUATIONS[args.dataset]
    data_dir = args.data_dir or default_data_dir()
    if settings.embedded:
        from terraminer.stack import LocalStack

        LocalStack(settings).up()
    landing_dir = settings.home_dir / "evaluation-landing"
    landing = open_landing(str(landing_dir))
    staged = stage_real_feeds(landing, data_dir, feeds)
    if not staged:
        raise TerraMinerError(f"no {args.dataset} files under {data_dir}: pass --data-dir (see ../shared/data/README.md)")
    _log(f"[1/4] ingest {len(staged)} file(s) from {data_dir}")
    with connect(settings) as conn:
        roles.apply_postgres(conn)
        ensure_ml_tables(conn)
        _, report = ingest(conn, load_contracts(), landing)
        if report.refused:
            raise TerraMinerError(f"refused: {[r.error for r in report.refused]}")
    _log("[2/4] dbt: seeds and everything upstream of the feature tables")
    _dbt(settings, ["seed", "--quiet"])
    _dbt(settings, ["build", "--quiet", "--select", "+feat_avm_sales", "+feat_avm_properties",
                    "--indirect-selection", "cautious"])
    _log(f"[3/4] train on {source_system} sales before {test_start}, test on every sale from {test_start}")
    with connect(settings) as conn:
        frame = load_sales(conn, source_system)
    result = train(settings, frame, dataset=source_system, test_start=test_start, register=False,
                   experiment="terraminer_avm_evaluation", log=_log)
    _log(f"[4/4] MLflow run {result.run_id} (experiment terraminer_avm_evaluation)")
    from ml.metrics import metrics_line

    print(metrics_line(result.metrics))
    return 0


def serve_command(settings: Settings, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """``mlflow models serve`` of the champion, with the environment it needs.

    mlflow starts ``uvicorn`` by name, so this venv's ``bin`` goes first on ``PATH``; the tracking
    URI comes from the settings (the local store under ``TERRAMINER_HOME`` by default).
    """
    from ml import tracking

    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, MLFLOW_TRACKING_URI=settings.mlflow_uri,
               PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))
    mlflow = os.path.join(bin_dir, "mlflow")
    command = [mlflow if os.path.exists(mlflow) else "mlflow", "models", "serve",
               "-m", f"models:/{tracking.MODEL_NAME}@{tracking.CHAMPION}", "--env-manager", "local",
               "-h", host, "-p", str(port)]
    return command, env


def cmd_serve(args, settings: Settings) -> int:
    from ml import tracking

    client = tracking.configure(settings)
    if tracking.champion_version(client) is None:
        raise TerraMinerError(f"no champion in {settings.mlflow_uri}: run `make demo` or `terraminer avm train` first")
    command, env = serve_command(settings, args.host, args.port)
    _log(f"serving models:/{tracking.MODEL_NAME}@{tracking.CHAMPION} on http://{args.host}:{args.port}/invocations")
    os.execve(command[0], command, env) if os.path.isabs(command[0]) else os.execvpe(command[0], command, env)
    return 0  # not reached


def add_parser(sub) -> None:
    p = sub.add_parser("avm", help="automated valuation model: train, score, evaluate",
                       description="Automated valuation model: train, score, evaluate")
    avm = p.add_subparsers(dest="avm_command", required=True, metavar="ACTION")
    t = avm.add_parser("train", help="train on feat_avm_sales, log to MLflow, promote if better than the champion")
    t.add_argument("--dataset", help="source_system (default: TERRAMINER_AVM_DATASET or synthetic)")
    t.add_argument("--test-start", help="first day of the test window (default: the last 3 months)")
    t.set_defaults(func=cmd_train)
    s = avm.add_parser("score", help="value every property of feat_avm_properties with the champion")
    s.add_argument("--dataset")
    s.set_defaults(func=cmd_score)
    e = avm.add_parser("evaluate", help="ingest → dbt features → train/test on a real feed with a fixed split")
    e.add_argument("--dataset", required=True, choices=sorted(EVALUATIONS))
    e.add_argument("--data-dir", help="folder with the public data (default ../shared/data)")
    e.set_defaults(func=cmd_evaluate)
    v = avm.add_parser("serve", help="serve the champion over HTTP (mlflow models serve)")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=5001)
    v.set_defaults(func=cmd_serve)
