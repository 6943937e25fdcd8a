"""``terraminer avm train | score | evaluate | serve``: the AVM outside Dagster, through the
pipeline's own steps (:mod:`terraminer.pipeline`)."""

from __future__ import annotations

import os
import sys

from core.errors import TerraMinerError
from core.settings import Settings
from terraminer import pipeline

EVALUATIONS = {
    # dataset: (source_system, fixed test start, real feeds to stage)
    "king_county": ("king_county", "2015-02-01", ["king_county"]),
}
# Real public feeds ../shared/data holds for a source_system (ingestion.real_feeds names), and
# the index series every US market may use.
REAL_FEEDS = {"king_county": ["king_county"], "nyc_dof": ["nyc_dof"], "uk_land_registry": ["uk_land_registry"]}
DEFAULT_TEST_FRACTION = 0.25


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_train(args, settings: Settings) -> int:
    from ml.metrics import metrics_line

    result = pipeline.train(settings, args.dataset or settings.avm_dataset, test_start=args.test_start, log=_log)
    print(metrics_line({**result.metrics, "n": result.metrics["n"]}))
    return 0


def cmd_score(args, settings: Settings) -> int:
    result = pipeline.score(settings, args.dataset or None, log=_log)
    print(f"scored={result['rows']} model_version={result['model_version']} valuation_date={result['valuation_date']}")
    return 0


def cmd_evaluate(args, settings: Settings) -> int:
    """The whole chain on one market with a fixed split; the last line is the metrics line.

    ``--dataset king_county`` (or ``--source-system king_county`` without a split option) keeps
    its fixed split date; any other market is split by ``--test-start`` or ``--test-fraction``
    (default: the latest quarter of its sales)."""
    from ingestion.landing import open_landing
    from ingestion.real_feeds import default_data_dir, stage_real_feeds

    if args.dataset and args.source_system and args.dataset != args.source_system:
        raise TerraMinerError("give --dataset or --source-system, not both")
    if args.dataset and args.dataset not in EVALUATIONS:
        raise TerraMinerError(f"unknown dataset {args.dataset!r}: choose from {', '.join(EVALUATIONS)} "
                              "(any market: --source-system NAME)")
    source_system = args.dataset or args.source_system
    if not source_system:
        raise TerraMinerError("name the market: --source-system NAME (or --dataset king_county)")
    if args.test_start and args.test_fraction is not None:
        raise TerraMinerError("give --test-start or --test-fraction, not both")
    fixed = EVALUATIONS.get(source_system)
    feeds = fixed[2] if fixed else REAL_FEEDS.get(source_system, [])
    data_dir = args.data_dir or default_data_dir()
    pipeline.start_stack(settings)
    landing_dir = settings.home_dir / "evaluation-landing"
    landing = open_landing(str(landing_dir))
    staged = stage_real_feeds(landing, data_dir, feeds) if feeds else []
    if feeds and not staged:
        raise TerraMinerError(f"no {source_system} files under {data_dir}: pass --data-dir (see ../shared/data/README.md)")
    _log(f"[1/4] ingest {len(staged)} file(s) from {data_dir}" if staged else
         f"[1/4] {source_system}: no public sample files known; using the sales already ingested")
    pipeline.prepare_warehouse(settings)
    if staged:
        pipeline.ingest_landing(settings, landing, refuse_is_error=True)
    _log("[2/4] dbt: seeds and everything upstream of the feature tables")
    # This stack's own dbt target dir: stacks side by side (and parallel test workers) never
    # write one target/ at the same time.
    target_path = os.environ.get("DBT_TARGET_PATH") or str(settings.home_dir / "dbt-target")
    pipeline.dbt(settings, ["seed", "--quiet"], DBT_TARGET_PATH=target_path)
    pipeline.dbt(settings, ["build", "--quiet", "--select", "+feat_avm_sales", "+feat_avm_properties",
                            "--indirect-selection", "cautious"], DBT_TARGET_PATH=target_path)
    from ml.features import load_sales
    from ml.metrics import metrics_line
    from ml.train import split_for_fraction, train

    with connect_settings(settings) as conn:
        frame = load_sales(conn, source_system)
    if frame.empty:
        raise TerraMinerError(f"no {source_system!r} rows in features.feat_avm_sales: is its staging model in "
                              "int_sales_unioned and its region in seeds/regions.csv? (README: Add a market)")
    if args.test_start:
        test_start, how = args.test_start, f"from {args.test_start}"
    elif fixed and args.test_fraction is None:
        test_start, how = fixed[1], f"from {fixed[1]} (fixed split)"
    else:
        fraction = DEFAULT_TEST_FRACTION if args.test_fraction is None else args.test_fraction
        test_start = split_for_fraction(frame, fraction)
        how = f"the latest {fraction:.0%} of sales, from {test_start.date()}"
    _log(f"[3/4] train on {len(frame):,} {source_system} sales; test on {how}")
    result = train(settings, frame, dataset=source_system, test_start=test_start, register=False,
                   experiment="terraminer_avm_evaluation", log=_log)
    _log(f"[4/4] MLflow run {result.run_id} (experiment terraminer_avm_evaluation)")
    print(metrics_line(result.metrics))
    return 0


def connect_settings(settings: Settings):
    from core.warehouse import connect

    return connect(settings)


def _serve_alias(market: str | None) -> str:
    from ml import tracking

    return tracking.CHAMPION if not market else tracking.alias(tracking.CHAMPION, market)


def serve_command(settings: Settings, host: str, port: int, market: str | None = None) -> tuple[list[str], dict[str, str]]:
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
               "-m", f"models:/{tracking.MODEL_NAME}@{_serve_alias(market)}", "--env-manager", "local",
               "-h", host, "-p", str(port)]
    return command, env


def cmd_serve(args, settings: Settings) -> int:
    from ml import tracking

    client = tracking.configure(settings)
    alias = _serve_alias(args.dataset)
    champion = tracking.version_by_alias(client, alias)
    if champion is None:
        raise TerraMinerError(f"no '{alias}' alias in {settings.mlflow_uri}: run `make demo` or "
                              "`terraminer avm train` first")
    # the served bytes must be the ones registered: check the recorded SHA-256 first
    tracking.load_verified(client, champion)
    command, env = serve_command(settings, args.host, args.port, args.dataset)
    _log(f"serving models:/{tracking.MODEL_NAME}@{alias} on http://{args.host}:{args.port}/invocations")
    os.execve(command[0], command, env) if os.path.isabs(command[0]) else os.execvpe(command[0], command, env)
    return 0  # not reached


def add_parser(sub) -> None:
    p = sub.add_parser("avm", help="automated valuation model: train, score, evaluate, serve",
                       description="Automated valuation model: train, score, evaluate, serve. The model is "
                                   "tracked in MLflow (MLFLOW_TRACKING_URI, default: the store under TERRAMINER_HOME).")
    avm = p.add_subparsers(dest="avm_command", required=True, metavar="ACTION", help="what to do (each has --help)")
    dataset_help = "source_system whose sales to use (default: TERRAMINER_AVM_DATASET, else synthetic)"
    t = avm.add_parser("train", help="train on feat_avm_sales, log to MLflow, promote if better than the champion",
                       description="Train on feat_avm_sales, log to MLflow, promote if better than the champion.")
    t.add_argument("--dataset", help=dataset_help)
    t.add_argument("--test-start", metavar="DATE", help="first day of the test window (default: the last 3 months)")
    t.set_defaults(func=cmd_train)
    s = avm.add_parser("score", help="value every property of feat_avm_properties with the champion",
                       description="Value every property of feat_avm_properties with the champion into "
                                   "ml.property_valuations.")
    s.add_argument("--dataset", help="only this market (default: every market that has a champion, each "
                                     "valued with its own)")
    s.set_defaults(func=cmd_score)
    e = avm.add_parser("evaluate", help="ingest → dbt features → train/test on one market with a fixed split",
                       description="Ingest a market's public feed (when ../shared/data has it), build its features "
                                   "with dbt, train before the split and test after it; the last line is the "
                                   "metrics line.")
    e.add_argument("--dataset", choices=sorted(EVALUATIONS), help="a public feed with a fixed split (king_county)")
    e.add_argument("--source-system", metavar="NAME", help="any market: the source_system of its sales "
                   "(king_county, nyc_dof, uk_land_registry, or one added as README's 'Add a market' shows)")
    e.add_argument("--test-start", metavar="DATE", help="first day of the test window")
    e.add_argument("--test-fraction", type=float, metavar="F", help="test on the latest F of the sales "
                   f"(default {DEFAULT_TEST_FRACTION}; king_county keeps its fixed split date)")
    e.add_argument("--data-dir", help="folder with the public data (default ../shared/data)")
    e.set_defaults(func=cmd_evaluate)
    v = avm.add_parser("serve", help="serve the champion over HTTP (mlflow models serve)",
                       description="Serve the champion over HTTP with `mlflow models serve` (POST /invocations).")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    v.add_argument("--port", type=int, default=5001, help="port to listen on (default 5001)")
    v.add_argument("--dataset", help="serve this market's champion (default: the plain 'champion' alias, the "
                                     "default market's)")
    v.set_defaults(func=cmd_serve)
