"""Per-job warehouse credentials (issue 15, items 2 and 6): each job connects as its role; outside
the embedded stack the role's user and password come from the environment or AWS Secrets Manager
(tested against moto's server); no password is ever in a repr or in `terraminer env`."""

from __future__ import annotations

import json
import os
import secrets

import pytest

from core.settings import Settings

ROLES = ("terraminer_loader", "terraminer_transformer", "terraminer_ml", "terraminer_bi", "terraminer_api")


def test_embedded_roles_share_the_password_file_and_never_carry_a_password(tmp_path):
    settings = Settings(env="local", home=tmp_path)
    for role in ROLES:
        wh = settings.as_role(role).warehouse
        assert wh.user == role and wh.password is None
        assert wh.conninfo()["passfile"] == str(settings.pg_passfile)
    assert settings.warehouse.user == "postgres"
    exports = settings.exports()
    assert "PGPASSWORD" not in exports and exports["PGPASSFILE"] == str(settings.pg_passfile)
    assert exports["DBT_PGUSER"] == "terraminer_transformer"


def test_dev_roles_from_the_environment(monkeypatch):
    password = secrets.token_urlsafe(16)
    monkeypatch.setenv("PGHOST", "db.example.invalid")
    monkeypatch.setenv("PGUSER", "admin")
    monkeypatch.setenv("PGPASSWORD", password + "-admin")
    monkeypatch.setenv("TERRAMINER_LOADER_USER", "svc_loader")
    monkeypatch.setenv("TERRAMINER_LOADER_PASSWORD", password)
    settings = Settings(env="dev")
    wh = settings.as_role("terraminer_loader").warehouse
    assert (wh.user, wh.password, wh.sslmode) == ("svc_loader", password, "require")
    assert password not in repr(wh) and password not in repr(settings.warehouse)
    assert all(password not in value for value in settings.exports().values())
    assert "PGPASSWORD" not in settings.exports()
    assert Settings(env="dev", pg_sslmode="verify-full").warehouse.conninfo()["sslmode"] == "verify-full"
    # a role without its own credentials falls back to the one PGUSER
    assert settings.as_role("terraminer_bi").warehouse.user == "admin"


@pytest.fixture
def secretsmanager(monkeypatch):
    from moto.server import ThreadedMotoServer

    from tests.conftest import free_port

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETSMANAGER", url)
    try:
        yield url
    finally:
        server.stop()
        from core.secrets import get_secret_string

        get_secret_string.cache_clear()


def test_prod_roles_from_aws_secrets_manager(secretsmanager, monkeypatch):
    import boto3

    from core.dbt import dbt_env

    client = boto3.client("secretsmanager", endpoint_url=secretsmanager)
    stored = {}
    for role in ("terraminer_loader", "terraminer_transformer", "terraminer_ml"):
        stored[role] = secrets.token_urlsafe(24)
        client.create_secret(Name=f"acme/prod/{role.removeprefix('terraminer_')}",
                             SecretString=json.dumps({"username": f"svc_{role[11:]}", "password": stored[role]}))
    monkeypatch.setenv("REDSHIFT_HOST", "cluster.example.invalid")
    monkeypatch.setenv("REDSHIFT_USER", "admin")
    settings = Settings(env="prod", credentials="aws", secret_prefix="acme")
    assert settings.secret_name("terraminer_ml") == "acme/prod/ml"
    wh = settings.as_role("terraminer_ml").warehouse
    assert (wh.kind, wh.user, wh.password) == ("redshift", "svc_ml", stored["terraminer_ml"])
    assert stored["terraminer_ml"] not in repr(wh)
    # dbt's subprocess gets the transformer's credentials; nothing printable carries them
    secret_env = settings.dbt_secret_env()
    assert secret_env == {"REDSHIFT_USER": "svc_transformer", "REDSHIFT_PASSWORD": stored["terraminer_transformer"]}
    assert all(stored["terraminer_transformer"] not in v for v in dbt_env(settings).values()
               if v is not os.environ.get("REDSHIFT_PASSWORD"))
    # a missing secret is one clear error that names it
    from core.errors import TerraMinerError

    with pytest.raises(TerraMinerError, match="acme/prod/bi"):
        _ = settings.as_role("terraminer_bi").warehouse
