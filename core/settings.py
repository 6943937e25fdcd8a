"""One settings object for every environment (docs/ARCHITECTURE.md §3).

Everything is resolved lazily from ``TERRAMINER_*`` (and a few standard) environment variables;
importing this module reads nothing and connects to nothing.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Env = Literal["local", "ci", "dev", "staging", "prod"]
EMBEDDED_ENVS = ("local", "ci")
# PostgreSQL's unix socket path (``<dir>/.s.PGSQL.<port>``) must fit in sockaddr_un (108 bytes).
_MAX_SOCKET_PATH = 100


def project_dir() -> Path:
    """The repository root: where ``dbt_project.yml`` lives."""
    override = os.environ.get("TERRAMINER_PROJECT_DIR")
    if override:
        return Path(override).resolve()
    here = Path(__file__).resolve().parents[1]
    if (here / "dbt_project.yml").exists():
        return here
    return Path.cwd()


@dataclass(frozen=True)
class WarehouseConfig:
    """How to reach the warehouse. ``kind`` is ``postgres`` or ``redshift``.

    The password never appears in the repr, in :meth:`libpq_env` or in anything printed: the
    embedded stack hands it to libpq through ``passfile`` (``PGPASSFILE``); an external warehouse's
    password is passed to connections (:meth:`conninfo`) and to dbt subprocesses (:meth:`secret_env`)
    only."""

    kind: str
    host: str
    port: int
    user: str
    dbname: str
    password: str | None = field(default=None, repr=False)
    embedded: bool = False
    passfile: str | None = None
    sslmode: str | None = None

    def conninfo(self, **overrides: object) -> dict[str, object]:
        """Keyword arguments for ``psycopg.connect``."""
        info: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.dbname,
        }
        if self.password:
            info["password"] = self.password
        if self.passfile:
            info["passfile"] = self.passfile
        if self.sslmode:
            info["sslmode"] = self.sslmode
        info.update(overrides)
        return info

    def libpq_env(self) -> dict[str, str]:
        """The standard libpq variables (``psql`` and ``psycopg.connect()`` with no arguments).
        Never a password: ``PGPASSFILE`` names the owner-only password file instead."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.dbname,
        }
        if self.passfile:
            env["PGPASSFILE"] = self.passfile
        if self.sslmode:
            env["PGSSLMODE"] = self.sslmode
        return env

    def secret_env(self) -> dict[str, str]:
        """The password variable ``profiles.yml`` reads, for a dbt subprocess's environment only
        (never printed; empty for the embedded stack, whose password is in ``PGPASSFILE``)."""
        if not self.password:
            return {}
        return {"REDSHIFT_PASSWORD" if self.kind == "redshift" else "PGPASSWORD": self.password}


class Settings(BaseSettings):
    """Resolve ``local|ci|dev|staging|prod`` to warehouse, landing zone, MLflow URI and dbt target."""

    model_config = SettingsConfigDict(env_prefix="TERRAMINER_", extra="ignore")

    env: Env = Field(default="local", description="local, ci, dev, staging or prod: warehouse, landing, MLflow, dbt target")
    home: Path | None = Field(default=None, description="local state: Postgres, landing, MLflow, Dagster, logs (.terraminer/)")
    landing_uri: str | None = Field(default=None, description="landing zone: a folder, file:///path or s3://bucket/prefix")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (moto, MinIO)")
    landing_events: str | None = Field(
        default=None,
        description="SQS queue of the S3 landing bucket's event notifications: sqs://<queue-name> or the queue URL "
                    "(the landing_events_sensor long-polls it; unset: only the folder-listing landing_sensor)",
    )
    database: str = Field(default="terraminer", description="warehouse database name")
    pg_user: str = Field(default="postgres", description="embedded PostgreSQL superuser")
    pg_port: int = Field(default=5432, description="embedded PostgreSQL port")
    pg_tcp: bool = Field(default=False, description="1: also listen on 127.0.0.1:pg_port (BI tools)")
    job_role: str | None = Field(default=None, description="the warehouse role this process's connections use (default: admin); set per job by the pipeline")
    credentials: Literal["env", "aws"] = Field(default="env", description="per-role warehouse credentials outside local/ci: env or aws (Secrets Manager)")
    secret_prefix: str = Field(default="terraminer", description="Secrets Manager names are <prefix>/<env>/<loader|transformer|ml|bi|api|hmac>")
    pg_sslmode: str = Field(default="require", description="libpq sslmode for dev/staging PostgreSQL (require, verify-full, ...)")
    mlflow_tracking_uri: str | None = Field(default=None, description="MLflow server (default: store under home)")
    dbt_target: str | None = Field(default=None, description="dbt target (default: the env's own)")
    redshift_iam_role: str | None = Field(default=None, description="IAM role ARN for Redshift COPY (prod)")
    avm_dataset: str = Field(default="synthetic", description="source_system the AVM is trained on and scores")
    notify_channel: str = Field(default="outbox", description="outbox | webhook | sns")
    notify_target: str | None = Field(default=None, description="webhook URL or SNS topic ARN")
    # data-access API (api/)
    redis_url: str | None = Field(default=None, description="redis:// or unix:// URL; default: the embedded server")
    api_cache: bool = Field(default=True, description="false: no Redis at all (no cache, no rate limits)")
    api_pg_user: str = Field(default="terraminer_api", description="the API's read-only warehouse role")
    api_statement_timeout_ms: int = Field(default=5000, ge=100, description="API queries are cancelled after this")
    api_pool_size: int = Field(default=8, ge=1, description="warehouse connections of an API worker")
    api_cache_ttl_s: int = Field(default=3600, ge=1, description="lifetime of a cached answer")
    api_version_ttl_s: float = Field(default=5.0, ge=0, description="how long the data version is trusted")
    api_rate_limit: int = Field(default=600, ge=1, description="default requests per window per key")
    api_rate_window_s: int = Field(default=60, ge=1, description="rate-limit window in seconds")
    webhook_allow_private: bool | None = Field(
        default=None,
        description="let alert webhooks reach private/loopback/link-local addresses (default: only in local and ci)",
    )

    # ----------------------------------------------------------------- paths
    @cached_property
    def home_dir(self) -> Path:
        return (self.home or project_dir() / ".terraminer").expanduser().resolve()

    @property
    def pg_root(self) -> Path:
        return self.home_dir / "pg"

    @property
    def pg_data_dir(self) -> Path:
        return self.pg_root / "data"

    @property
    def pg_socket_dir(self) -> Path:
        """Socket directory: inside the home, or a short /tmp path when the home path is too long."""
        candidate = self.pg_root
        if len(str(candidate / f".s.PGSQL.{self.pg_port}")) <= _MAX_SOCKET_PATH:
            return candidate
        digest = hashlib.sha256(str(self.home_dir).encode()).hexdigest()[:12]
        return self.runtime_dir / f"pg-{digest}"

    @property
    def runtime_dir(self) -> Path:
        """Short private folder for sockets when the home path is too long: ``/tmp/terraminer-<uid>``,
        created mode 0700 (0711 as root, so the server's user can reach its own sub-folder) and
        checked to be a real folder owned by this user before use (``terraminer.stack``)."""
        return Path("/tmp") / f"terraminer-{os.geteuid()}"

    @property
    def secrets_dir(self) -> Path:
        """Owner-only (0700) folder of the stack's generated credentials."""
        return self.home_dir / "secrets"

    @property
    def pg_passfile(self) -> Path:
        """The embedded stack's libpq password file (0600): one line per role, generated by ``up``."""
        return self.secrets_dir / "pgpass"

    @property
    def dagster_home(self) -> Path:
        return self.home_dir / "dagster"

    @property
    def mlflow_dir(self) -> Path:
        return self.home_dir / "mlflow"

    @property
    def redis_dir(self) -> Path:
        return self.home_dir / "redis"

    @property
    def redis_socket(self) -> Path:
        """The embedded server's unix socket (a short /tmp path when the home path is too long)."""
        candidate = self.redis_dir / "redis.sock"
        if len(str(candidate)) <= _MAX_SOCKET_PATH:
            return candidate
        digest = hashlib.sha256(str(self.home_dir).encode()).hexdigest()[:12]
        return self.runtime_dir / f"redis-{digest}.sock"

    @property
    def cache_url(self) -> str | None:
        """``TERRAMINER_REDIS_URL``, else the embedded server's socket (local/ci), else no cache."""
        if self.redis_url:
            return self.redis_url
        if self.embedded:
            return f"unix://{self.redis_socket}"
        return None

    @property
    def outbox_path(self) -> Path:
        return self.home_dir / "outbox" / "notifications.jsonl"

    # ------------------------------------------------------------ resolution
    @property
    def embedded(self) -> bool:
        return self.env in EMBEDDED_ENVS

    @property
    def webhooks_may_reach_private(self) -> bool:
        """Subscribers' webhooks may target non-public addresses (api/service/egress.py)."""
        return self.embedded if self.webhook_allow_private is None else self.webhook_allow_private

    @property
    def landing(self) -> str:
        if self.landing_uri:
            return self.landing_uri
        if self.embedded:
            return str(self.home_dir / "landing")
        raise_missing("TERRAMINER_LANDING_URI", f"the {self.env} landing zone (s3://bucket/prefix)")

    @property
    def endpoint_url(self) -> str | None:
        return self.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")

    @property
    def sqs_endpoint_url(self) -> str | None:
        """SQS endpoint for the landing events (moto serves S3 and SQS on one endpoint)."""
        return os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ.get("AWS_ENDPOINT_URL") or self.s3_endpoint_url

    @property
    def target(self) -> str:
        return self.dbt_target or os.environ.get("DBT_TARGET") or self.env

    @property
    def mlflow_uri(self) -> str:
        uri = self.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if uri:
            return uri
        if self.env in ("prod", "staging"):
            raise_missing("MLFLOW_TRACKING_URI", "the MLflow tracking server")
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()

    def as_role(self, role: str | None) -> Settings:
        """These settings with connections made as ``role`` (``terraminer_loader`` …): each job
        of the pipeline runs as its own role (docs/ARCHITECTURE.md §9)."""
        return self.model_copy(update={"job_role": role})

    def secret_name(self, role: str) -> str:
        """The Secrets Manager name of ``role``'s credentials (``terraminer_loader`` → ``…/loader``)."""
        return f"{self.secret_prefix}/{self.env}/{role.removeprefix('terraminer_')}"

    def role_credentials(self, role: str) -> tuple[str | None, str | None]:
        """(user, password) of ``role`` outside the embedded envs: ``TERRAMINER_<ROLE>_USER`` /
        ``_PASSWORD`` (role without ``terraminer_``, upper case), or, with ``credentials=aws``,
        the JSON secret ``{"username": …, "password": …}`` named by :meth:`secret_name`."""
        if self.credentials == "aws":
            from core.secrets import get_secret_json

            value = get_secret_json(self.secret_name(role), endpoint_url=os.environ.get("AWS_ENDPOINT_URL_SECRETSMANAGER")
                                    or os.environ.get("AWS_ENDPOINT_URL"))
            return value.get("username") or role, value.get("password")
        short = role.removeprefix("terraminer_").upper()
        return os.environ.get(f"TERRAMINER_{short}_USER"), os.environ.get(f"TERRAMINER_{short}_PASSWORD")

    @property
    def warehouse(self) -> WarehouseConfig:
        config = self._warehouse()
        if self.job_role and not self.embedded:
            user, password = self.role_credentials(self.job_role)
            if user:
                from dataclasses import replace

                config = replace(config, user=user, password=password)
        return config

    def _warehouse(self) -> WarehouseConfig:
        if self.embedded:
            return WarehouseConfig(
                kind="postgres",
                host=str(self.pg_socket_dir),
                port=self.pg_port,
                user=self.job_role or self.pg_user,
                dbname=self.database,
                embedded=True,
                passfile=str(self.pg_passfile),
            )
        if self.env == "prod":
            return WarehouseConfig(
                kind="redshift",
                host=required_env("REDSHIFT_HOST", "the Redshift endpoint"),
                port=int(os.environ.get("REDSHIFT_PORT", "5439")),
                user=required_env("REDSHIFT_USER", "the Redshift user"),
                dbname=os.environ.get("REDSHIFT_DATABASE", self.database),
                password=os.environ.get("REDSHIFT_PASSWORD"),
            )
        return WarehouseConfig(
            kind="postgres",
            host=required_env("PGHOST", f"the {self.env} PostgreSQL host"),
            port=int(os.environ.get("PGPORT", "5432")),
            user=required_env("PGUSER", f"the {self.env} PostgreSQL user"),
            dbname=os.environ.get("PGDATABASE", self.database),
            password=os.environ.get("PGPASSWORD"),
            sslmode=self.pg_sslmode,
        )

    def pii_key(self) -> bytes:
        """The personal-data HMAC key: ``TERRAMINER_PII_KEY``, else (``credentials=aws``) the secret
        ``<prefix>/<env>/hmac``, else on the embedded stack a generated key in ``secrets/pii_key``
        (0600). Never printed; never in the repository."""
        value = os.environ.get("TERRAMINER_PII_KEY")
        if value:
            return value.encode()
        if self.credentials == "aws":
            from core.secrets import get_secret_string

            return get_secret_string(self.secret_name("hmac"), endpoint_url=os.environ.get(
                "AWS_ENDPOINT_URL_SECRETSMANAGER") or os.environ.get("AWS_ENDPOINT_URL")).encode()
        if not self.embedded:
            raise_missing("TERRAMINER_PII_KEY", "the personal-data hash key (or use TERRAMINER_CREDENTIALS=aws)")
        path = self.secrets_dir / "pii_key"
        if not path.exists():
            import secrets as _secrets

            self.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(_secrets.token_hex(32))
        return path.read_text().strip().encode()

    def exports(self) -> dict[str, str]:
        """What ``terraminer env`` prints and the demo exports: everything psql, dbt, MLflow and
        Dagster read to reach this stack."""
        exports = {"TERRAMINER_ENV": self.env, "TERRAMINER_HOME": str(self.home_dir)}
        exports.update(self.warehouse.libpq_env())
        exports.update(self.dbt_env())
        exports["MLFLOW_TRACKING_URI"] = self.mlflow_uri
        exports["DAGSTER_HOME"] = str(self.dagster_home)
        return exports

    def dbt_env(self) -> dict[str, str]:
        """Variables ``profiles.yml`` reads, for the embedded envs."""
        env = {
            "DBT_PROFILES_DIR": str(project_dir()),
            "DBT_PROJECT_DIR": str(project_dir()),
            "DBT_TARGET": self.target,
        }
        if self.embedded:
            env.update(self.warehouse.libpq_env())
            env["DBT_PGUSER"] = "terraminer_transformer"  # dbt runs as its role (the password is in PGPASSFILE)
        elif self.env != "prod":
            env["PGSSLMODE"] = self.pg_sslmode
        return env

    def dbt_secret_env(self) -> dict[str, str]:
        """dbt's own credentials for a subprocess (never printed): the transformer's user and
        password outside the embedded envs, when they are configured."""
        if self.embedded:
            return {}
        user, password = self.role_credentials("terraminer_transformer")
        if not user:
            return self.warehouse.secret_env()
        names = ("REDSHIFT_USER", "REDSHIFT_PASSWORD") if self.env == "prod" else ("DBT_PGUSER", "DBT_PGPASSWORD")
        return {names[0]: user, **({names[1]: password} if password else {})}


def required_env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise_missing(name, what)
    return value


def raise_missing(name: str, what: str):
    from core.errors import TerraMinerError

    raise TerraMinerError(f"{name} is not set: export it to point TerraMiner at {what}")


def get_settings(**overrides: object) -> Settings:
    """A fresh settings object (cheap: nothing is read until a property is used)."""
    return Settings(**overrides)
