"""Validation of dbt project variables from run configuration (Dagster's ``dbt_vars``), before dbt
sees them (issue 15, item 3): only the project's own variables, each with its type and range; the
internal switches (offline compile, PII salt) cannot be set from a run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.errors import TerraMinerError

# name: (type, minimum, maximum) — ranges as loose as any sensible run needs, and no looser
_NUMBERS: dict[str, tuple[type, float, float]] = {
    "incremental_lookback_days": (int, 0, 3660),
    "nominal_price_threshold": (float, 0, 1e9),
    "outlier_z_threshold": (float, 0.5, 100),
    "index_min_window_sales": (int, 1, 1_000_000),
    "index_smoothing_sales": (int, 0, 1_000_000),
    "alert_index_mom_threshold": (float, 0, 10),
    "alert_price_cut_threshold": (float, 0, 1),
    "alert_suspicious_ppsf_ratio": (float, 0, 1),
    "alert_flip_max_days": (int, 1, 36600),
    "alert_flip_min_gain": (float, 0, 100),
    "feature_half_life_days": (int, 1, 36600),
    "market_context_lag_months": (int, 0, 120),
    "avm_min_training_rows": (int, 0, 10**12),
    "statistics_min_pages": (int, 0, 10**9),  # a huge value blocks training on purpose (tests)
    "incremental_rebuild_share": (float, 0, 1e9),  # 0 = never rebuild on a large batch
}
_CHOICES: dict[str, tuple[str, ...]] = {"test_scope": ("incremental", "full")}
# project structure, not run parameters: a run that changed them would change the graph itself
PROJECT_CONSTANTS = ("markets", "markets_with_own_models")
# dates YYYY-MM-DD; the reprocess_landing_* pair: the landing days a partitioned run re-derives
# (macros/incremental/reprocess.sql), normally set from the run's partitions (orchestration)
_DATES = ("feature_epoch", "reprocess_landing_from", "reprocess_landing_to")


def validate_dbt_vars(values: Any) -> dict[str, Any]:
    """The checked mapping, or :class:`TerraMinerError` naming the first bad variable (its value
    is not echoed)."""
    if not isinstance(values, dict):
        raise TerraMinerError("dbt vars must be a mapping like {name: value}")
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name in _NUMBERS:
            kind, low, high = _NUMBERS[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
                raise TerraMinerError(f"dbt var {name} must be {'an integer' if kind is int else 'a number'}")
            if not low <= value <= high:
                raise TerraMinerError(f"dbt var {name} must be between {low:g} and {high:g}")
        elif name in _CHOICES:
            if value not in _CHOICES[name]:
                raise TerraMinerError(f"dbt var {name} must be one of {', '.join(_CHOICES[name])}")
        elif name in _DATES:
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                value = value.isoformat()  # YAML reads an unquoted 2024-03-06 as a date
            try:
                dt.date.fromisoformat(value if isinstance(value, str) else "")
            except ValueError:
                raise TerraMinerError(f"dbt var {name} must be a date YYYY-MM-DD") from None
        else:
            raise TerraMinerError(f"dbt var {str(name)[:64]!r} is not one a run may set "
                                  f"(allowed: {', '.join(sorted([*_NUMBERS, *_CHOICES, *_DATES]))})")
        checked[name] = value
    first = checked.get("reprocess_landing_from")
    if checked.get("reprocess_landing_to") and (first is None or checked["reprocess_landing_to"] < first):
        raise TerraMinerError("dbt var reprocess_landing_to needs reprocess_landing_from on or before it")
    return checked
