"""Connections to the warehouse named by the settings."""

from __future__ import annotations

import psycopg

from core.errors import StackNotRunningError, TerraMinerError
from core.settings import Settings


def connect(settings: Settings, **kwargs) -> psycopg.Connection:
    """A psycopg connection, or one clear error saying how to get one."""
    info = settings.warehouse.conninfo(**kwargs.pop("conninfo", {}))
    if settings.warehouse.kind != "postgres":
        raise TerraMinerError(
            f"TERRAMINER_ENV={settings.env} targets Redshift: use core.warehouse.connect_redshift"
        )
    try:
        return psycopg.connect(**info, **kwargs)
    except psycopg.OperationalError as err:
        if settings.embedded:
            raise StackNotRunningError(
                f"the local warehouse under {settings.home_dir} is not running: run `terraminer up` first"
            ) from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else "connection failed"
        raise TerraMinerError(f"cannot connect to {info.get('host')}:{info.get('port')}: {first}") from None


def connect_redshift(settings: Settings):
    """A redshift_connector connection (autocommit: the Redshift load plans issue BEGIN/COMMIT)."""
    import redshift_connector

    wh = settings.warehouse
    conn = redshift_connector.connect(host=wh.host, port=wh.port, user=wh.user, password=wh.password,
                                      database=wh.dbname)
    conn.autocommit = True
    return conn

