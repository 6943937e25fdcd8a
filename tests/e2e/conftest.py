"""Fixtures of the end-to-end tests that run the Dagster code location on a stack of their own
(test_orchestration.py, test_landing_events.py), all module-scoped:

- ``pipeline_env``: an isolated embedded stack exported like `terraminer env` (its Settings); a file
  that needs more (test_landing_events: the landing zone on an S3 bucket that notifies a queue)
  overrides it, building its stack with :func:`e2e_stack` and its own variables;
- ``defs``: the code location's definitions on that stack (the dbt manifest prepared first);
- ``instance``: an ephemeral Dagster instance.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from core.settings import Settings, project_dir
from terraminer.stack import LocalStack


@contextlib.contextmanager
def e2e_stack(prefix: str, **environ: str) -> Iterator[Settings]:
    """An isolated TERRAMINER_HOME (``/tmp/<prefix>…``) with its own embedded PostgreSQL, exported
    like `terraminer env` plus ``environ`` until the block exits; then stopped and deleted."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    settings = Settings(env="ci", home=home)
    stack = LocalStack(settings)
    stack.up()
    patch = pytest.MonkeyPatch()
    try:
        for key, value in settings.exports().items():
            patch.setenv(key, value)
        patch.setenv("TERRAMINER_ENV", "ci")
        patch.setenv("TERRAMINER_HOME", str(home))
        patch.setenv("DBT_PROFILES_DIR", str(project_dir()))
        patch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        for key, value in environ.items():
            patch.setenv(key, value)
        yield settings
    finally:
        patch.undo()
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def pipeline_env() -> Iterator[Settings]:
    """An isolated TERRAMINER_HOME with its own embedded PostgreSQL, exported like `terraminer env`."""
    with e2e_stack("tmo-") as settings:
        from terraminer.pipeline import prepare_warehouse

        prepare_warehouse(settings)  # again (up did it): idempotent
        yield settings


@pytest.fixture(scope="module")
def defs(pipeline_env):
    from orchestration.project import prepare_manifest

    prepare_manifest()
    from orchestration.definitions import defs as definitions

    return definitions


@pytest.fixture(scope="module")
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst
