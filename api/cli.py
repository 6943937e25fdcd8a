"""``terraminer api`` and ``terraminer api-key create|list|revoke`` (wired in by terraminer/cli.py)."""

from __future__ import annotations

import sys

from core.errors import TerraMinerError
from core.settings import Settings


def _connect(settings: Settings):
    from core.errors import StackNotRunningError
    from core.warehouse import connect

    try:
        return connect(settings, conninfo={"user": settings.api_pg_user}, autocommit=True)
    except StackNotRunningError:
        with connect(settings):  # the warehouse runs (else this raises "not running"): the role is missing
            pass
        raise TerraMinerError(f"cannot connect as {settings.api_pg_user}: run `terraminer roles` first") from None


def cmd_api(args, settings: Settings) -> int:
    import uvicorn

    with _connect(settings) as conn:  # fail early, in one line, rather than on every request
        if conn.execute("select to_regclass('api_meta.api_keys')").fetchone()[0] is None:
            raise TerraMinerError("the warehouse has no api_meta schema: run `terraminer roles` first")
    url = f"http://{args.host}:{args.port}"
    print(f"TerraMiner API on {url}  (docs {url}/docs, GraphQL {url}/graphql)", flush=True)
    if getattr(args, "before_serve", None):  # set by a layer above (the web app: its login URL)
        args.before_serve(settings, url)
    uvicorn.run(getattr(args, "app_factory", "api.main:create_app"), factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning", access_log=False)
    return 0


def cmd_key_create(args, settings: Settings) -> int:
    from api.security import create_key, parse_scopes

    try:
        scopes = parse_scopes(args.scopes)
        with _connect(settings) as conn:
            key = create_key(conn, args.name, scopes, args.expires, args.rate_limit, args.rate_window)
    except ValueError as err:
        raise TerraMinerError(str(err)) from None
    print(f"created key {args.name!r} with scopes {','.join(scopes)}"
          + (f", expires in {args.expires:g} days" if args.expires else "")
          + ": store it now, it is not shown again", file=sys.stderr)
    print(key)
    return 0


def cmd_key_list(args, settings: Settings) -> int:
    from api.security import list_keys

    with _connect(settings) as conn:
        keys = list_keys(conn)
    print(f"{'name':<24} {'id':<8} {'scopes':<40} {'limit':>6}  {'created':<16} {'expires':<16} revoked")
    for name, key_id, scopes, limit, created, expires, revoked in keys:
        fmt = lambda t: t.strftime("%Y-%m-%d %H:%M") if t else "-"  # noqa: E731
        print(f"{name:<24} {key_id:<8} {scopes:<40} {limit or '-':>6}  {fmt(created):<16} {fmt(expires):<16} "
              f"{fmt(revoked)}")
    return 0


def cmd_key_revoke(args, settings: Settings) -> int:
    from api.security import revoke_key

    with _connect(settings) as conn:
        if not revoke_key(conn, args.name):
            raise TerraMinerError(f"no active key named {args.name!r} (`terraminer api-key list`)")
    print(f"revoked {args.name!r}")
    return 0


def add_parsers(sub) -> None:
    text = "serve the data API (REST /v1, GraphQL /graphql, docs /docs)"
    p = sub.add_parser("api", help=text, description=text[0].upper() + text[1:] + ".")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    p.set_defaults(func=cmd_api)

    text = "create, list or revoke API keys"
    keys = sub.add_parser("api-key", help=text, description="Create, list or revoke API keys (only their hashes are stored).")
    ksub = keys.add_subparsers(dest="key_command", required=True, metavar="ACTION", help="what to do (each has --help)")
    text = "create a key and print it once (the last line is the key)"
    p = ksub.add_parser("create", help=text, description=text[0].upper() + text[1:] + ".")
    p.add_argument("--name", required=True, help="a unique name for the key (used by list and revoke)")
    p.add_argument("--scopes", required=True, help="comma-separated: markets,properties,valuations,estimates,alerts")
    p.add_argument("--expires", type=float, metavar="DAYS", help="expire after DAYS days")
    p.add_argument("--rate-limit", type=int, metavar="N", help="requests per window (default: settings)")
    p.add_argument("--rate-window", type=int, metavar="SECONDS", help="window length (default: settings)")
    p.set_defaults(func=cmd_key_create)
    text = "list keys (never the keys themselves)"
    p = ksub.add_parser("list", help=text, description=text[0].upper() + text[1:] + ".")
    p.set_defaults(func=cmd_key_list)
    text = "revoke the active key with this name"
    p = ksub.add_parser("revoke", help=text, description=text[0].upper() + text[1:] + ".")
    p.add_argument("name", help="the key's name (see `terraminer api-key list`)")
    p.set_defaults(func=cmd_key_revoke)
