"""``terraminer api`` serves the API with the web app mounted (terraminer/cli.py wires this in, so
``api`` never imports ``web``) and prints a one-time login URL for the local user, as Jupyter does."""

from __future__ import annotations


def print_login_url(settings, url: str) -> None:
    from web.auth import LOGIN_TOKEN_TTL_S, local_login_url

    print(f"Web app {url}/app/: open this one-time link within {LOGIN_TOKEN_TTL_S // 60} minutes to sign in\n"
          f"    {local_login_url(settings, url)}", flush=True)


def extend_api_command(parser) -> None:
    parser.set_defaults(app_factory="web.server:create_app", before_serve=print_login_url)
    parser.description = "serve the data API (REST /v1, GraphQL /graphql, docs /docs) and the web app (/app/)"
