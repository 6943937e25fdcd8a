"""The ``terraminer`` command: local stack, synthetic data, ingestion and the demo pipeline.

Every failure a user can act on prints one line (``terraminer: error: …``) and exits non-zero;
tracebacks are for bugs only (set ``TERRAMINER_DEBUG=1`` to see them for any error).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Sequence

from core.errors import TerraMinerError
from core.settings import Settings, get_settings


def _stack(settings: Settings):
    from terraminer.stack import LocalStack

    if not settings.embedded:
        raise TerraMinerError(
            f"TERRAMINER_ENV={settings.env} uses an external warehouse: `up`/`down` manage the embedded local stack only"
        )
    return LocalStack(settings)


# ---------------------------------------------------------------------- stack
def cmd_up(args, settings: Settings) -> int:
    status = _stack(settings).up()
    print(f"warehouse {status.message}")
    print(f"cache     {status.cache}")
    print(f"home      {status.home}")
    print("next      eval \"$(terraminer env)\" && psql   |   terraminer demo")
    return 0


def cmd_down(args, settings: Settings) -> int:
    status = _stack(settings).down()
    print(f"warehouse {status.message}")
    print(f"cache     {status.cache}")
    return 0


def cmd_status(args, settings: Settings) -> int:
    status = _stack(settings).status()
    print(f"warehouse {status.message}")
    print(f"cache     {status.cache}")
    print(f"home      {status.home}")
    return 0 if status.running else 3


def cmd_env(args, settings: Settings) -> int:
    for key, value in settings.exports().items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_psql(args, settings: Settings) -> int:
    from terraminer.stack import pg_bin

    if settings.embedded:
        _stack(settings).require_running()
    env = dict(os.environ, **settings.warehouse.libpq_env())
    psql = str(pg_bin("psql")) if pg_bin("psql").exists() else "psql"
    os.execvpe(psql, [psql, *args.psql_args], env)
    return 0  # pragma: no cover


# ---------------------------------------------------------------------- data
def cmd_generate(args, settings: Settings) -> int:
    from ingestion.landing import open_landing
    from ingestion.synthetic import run_from_args

    landing = open_landing(args.landing or settings.landing, endpoint_url=settings.endpoint_url)
    summary = run_from_args(args, landing, progress=lambda msg: print(f"  {msg}", file=sys.stderr))
    print(
        f"generated {len(summary.files)} files in {landing.uri}: {summary.parcels:,} parcels, "
        f"{summary.sales:,} sales, {summary.listing_events:,} listing events, {summary.index_rows:,} index rows "
        f"({summary.seconds:.1f} s); planted truth: {summary.truth_key}"
    )
    return 0


def cmd_ingest(args, settings: Settings) -> int:
    from ingestion.cli import run_ingest

    return run_ingest(args, settings)


def cmd_roles(args, settings: Settings) -> int:
    from terraminer import roles

    if args.redshift:
        print(roles.redshift_sql(), end="")
        return 0
    from core.warehouse import connect

    with connect(settings) as conn:
        for line in roles.apply_postgres(conn):
            print(line)
    return 0


def cmd_demo(args, settings: Settings) -> int:
    from terraminer.demo import run_demo

    return run_demo(args, settings)


# ---------------------------------------------------------------------- parser
OTHER_VARIABLES = [
    ("TERRAMINER_DEMO_SCALE", "default --scale of `terraminer demo`"),
    ("TERRAMINER_DEBUG", "1: tracebacks instead of one-line errors"),
    ("PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD", "the warehouse in dev and staging"),
    ("REDSHIFT_HOST REDSHIFT_PORT REDSHIFT_USER REDSHIFT_PASSWORD", "the warehouse in prod"),
    ("MLFLOW_TRACKING_URI", "the MLflow server"),
    ("AWS_ENDPOINT_URL", "an S3-compatible endpoint"),
]


def environment_help() -> str:
    """The epilog of ``terraminer --help``: every setting's variable (from the settings' own
    field descriptions, so the list cannot drift) and the standard ones TerraMiner reads."""
    rows = [(f"TERRAMINER_{name.upper()}", field.description or "") for name, field in Settings.model_fields.items()]
    rows += OTHER_VARIABLES
    width = max(len(name) for name, _ in rows if len(name) < 30)
    lines = ["environment:"]
    for name, text in rows:
        lines.append(f"  {name:<{width}}  {text}" if len(name) <= width else f"  {name}\n  {'':<{width}}  {text}")
    lines.append("\n`terraminer env` prints the exports that psql, dbt, MLflow and Dagster need for this stack.")
    return "\n".join(lines)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("terraminer")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without install
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="terraminer",
        description="TerraMiner property-data platform: local stack, ingestion, dbt, AVM.",
        epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do (each has --help)")

    def add(name: str, func: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    add("up", cmd_up, "start the embedded PostgreSQL warehouse (idempotent)")
    add("down", cmd_down, "stop the embedded warehouse")
    add("status", cmd_status, "is the embedded warehouse running? (exit 3 when not)")
    add("env", cmd_env, "print export lines for psql, dbt, MLflow and Dagster: eval \"$(terraminer env)\"")
    p = add("psql", cmd_psql, "open psql on the warehouse")
    p.add_argument("psql_args", nargs=argparse.REMAINDER, help="extra psql arguments")

    p = add("generate", cmd_generate, "write deterministic synthetic feeds (and planted truth) to the landing zone")
    p.add_argument("--landing", help="landing URI (default: settings' landing zone)")
    _add_generate_args(p)

    p = add("ingest", cmd_ingest, "load pending landing files into raw tables (exit 2 when a file was refused)")
    p.add_argument("--contract", action="append", dest="contracts", metavar="NAME", help="only these contracts")
    p.add_argument("--landing", help="landing URI (default: settings' landing zone)")
    p.add_argument("--dry-run", action="store_true", help="list pending files, load nothing")
    p.add_argument("--retry-refused", action="store_true", help="retry refused files even if the contract is unchanged")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("roles", cmd_roles, "create the least-privilege roles and grants (idempotent)")
    p.add_argument("--redshift", action="store_true", help="print the Redshift SQL instead of applying to Postgres")

    from terraminer.avm_cli import add_parser as add_avm_parser

    add_avm_parser(sub)

    from api.cli import add_parsers as add_api_parsers

    add_api_parsers(sub)
    from web.cli import extend_api_command

    extend_api_command(sub.choices["api"])  # `terraminer api` also serves the web app under /app/

    p = add("demo", cmd_demo, "start the stack, generate a small landing zone and run the whole pipeline")
    p.add_argument("--scale", type=int, default=int(os.environ.get("TERRAMINER_DEMO_SCALE", "5")),
                   help="size of the synthetic world: about 1,000 sales per unit (default 5, or TERRAMINER_DEMO_SCALE)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the synthetic feeds (default 42)")
    p.add_argument("--fresh", action="store_true", help="regenerate the landing zone even if it has files")
    p.add_argument("--verbose", action="store_true", help="print Dagster's and dbt's full logs, not only step lines")
    return parser


def _add_generate_args(p: argparse.ArgumentParser) -> None:
    try:
        from ingestion.synthetic import add_arguments
    except ImportError:  # pragma: no cover - the generator is part of the distribution
        return
    add_arguments(p)


def _configure_logging() -> None:
    """Library warnings must not reach the terminal through logging's last-resort handler: psycopg
    logs ``error ignored terminating <psycopg.Copy [BAD]>`` when a connection drops during a COPY,
    right before the one-line error this CLI prints for the same failure. With
    ``TERRAMINER_DEBUG`` set they are shown (with the traceback)."""
    import logging

    psycopg_logger = logging.getLogger("psycopg")
    if os.environ.get("TERRAMINER_DEBUG"):
        if not psycopg_logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
            psycopg_logger.addHandler(handler)
    else:
        if not any(isinstance(h, logging.NullHandler) for h in psycopg_logger.handlers):
            psycopg_logger.addHandler(logging.NullHandler())
        psycopg_logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    _configure_logging()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["psql"]:  # everything after `psql` belongs to psql, options included
        args = parser.parse_args(["psql"])
        args.psql_args = argv[1:]
    else:
        args = parser.parse_args(argv)
    try:
        settings = get_settings()
        return args.func(args, settings)
    except TerraMinerError as err:
        if os.environ.get("TERRAMINER_DEBUG"):
            raise
        print(f"terraminer: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("terraminer: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # connection problems get one actionable line too
        import psycopg

        if isinstance(err, psycopg.OperationalError) and not os.environ.get("TERRAMINER_DEBUG"):
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            print(
                f"terraminer: error: cannot reach the warehouse ({first}): start it with `terraminer up` "
                "or check the PG*/TERRAMINER_* settings",
                file=sys.stderr,
            )
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
