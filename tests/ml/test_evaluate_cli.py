"""`terraminer avm evaluate --source-system NAME [--test-start DATE | --test-fraction F]`: the
split rules and argument checks (the whole chain on real data: tests/integration)."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from core.errors import TerraMinerError
from core.settings import Settings
from ml.features import select_features
from ml.train import evaluate, split_for_fraction
from terraminer import avm_cli
from tests.ml.conftest import synthetic_sales


def test_test_fraction_splits_on_whole_days_at_the_latest_share():
    sales = synthetic_sales(n=2000)
    start = split_for_fraction(sales, 0.25)
    share = (sales["sale_date"] >= start).mean()
    assert 0.24 <= share <= 0.27
    assert (sales.loc[sales["sale_date"] < start, "sale_date"] < start.normalize()).all()
    with pytest.raises(TerraMinerError):
        split_for_fraction(sales, 1.5)


def _args(**kw):
    base = {"dataset": None, "source_system": None, "test_start": None, "test_fraction": None, "data_dir": None}
    return argparse.Namespace(**(base | kw))


@pytest.mark.parametrize("kw, message", [
    ({}, "name the market"),
    ({"dataset": "nyc"}, "unknown dataset"),
    ({"dataset": "king_county", "source_system": "nyc_dof"}, "not both"),
    ({"source_system": "nyc_dof", "test_start": "2020-06-01", "test_fraction": 0.2}, "not both"),
])
def test_evaluate_refuses_unclear_arguments_before_starting_anything(tmp_path, kw, message):
    with pytest.raises(TerraMinerError, match=message):
        avm_cli.cmd_evaluate(_args(**kw), Settings(env="ci", home=tmp_path / "home"))


def test_a_market_without_area_or_year_built_still_trains():
    """Missing attributes (UK: no sqft, no year built) are handled, not fatal."""
    sales = synthetic_sales(n=1500).assign(living_sqft=np.nan, quality_grade=np.nan)
    spec = select_features(sales)
    assert "living_sqft" not in spec.numeric and "quality_grade" not in spec.numeric
    result = evaluate(sales, seeds=(0,), max_iter=150)
    assert np.isfinite(result.predictions["predicted"]).all()
    assert isinstance(result.window.test_start, pd.Timestamp)
