"""The worked example of README "Add a market" (examples/markets/evergreen_registry/) is what the
README says it is: a valid contract, a sources yml declaring the contract's columns, ONE staging
model listing only canonical columns (fewer than the canonical set: the rest are derived), a seed
row that fits seeds/regions.csv; and nothing else. The slow test_add_a_market builds it."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import yaml

from ingestion.contract import load_contract

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "markets" / "evergreen_registry"
MARKET = EXAMPLE.name
REQUIRED = {"source_sale_id", "source_property_id", "sale_price", "sale_date", "file_key", "loaded_at"}


def _canonical_optional_columns() -> set[str]:
    """The optional columns of feed_sale_columns() (macros/markets/markets.sql) and their
    <x>_area forms, plus region_id and submarket_code."""
    text = (REPO / "macros" / "markets" / "markets.sql").read_text()
    body = text[text.index("{% macro feed_sale_columns()"):]
    body = body[:body.index("{%- endmacro %}")]
    names = set(re.findall(r"\['(\w+)', '", body))
    assert {"living_sqft", "year_built", "latitude", "postcode"} <= names
    return names | {n[:-5] + "_area" for n in names if n.endswith("_sqft")} | {"region_id", "submarket_code"}


def test_the_example_is_the_files_the_readme_lists_and_nothing_else():
    files = sorted(str(p.relative_to(EXAMPLE)) for p in EXAMPLE.rglob("*") if p.is_file())
    assert files == [
        f"dbt_project/models/staging/{MARKET}/_{MARKET}__sources.yml",
        f"dbt_project/models/staging/{MARKET}/stg_{MARKET}__sales.sql",
        f"ingestion/contracts/{MARKET}__sales.yml",
        "seeds/regions.csv.row",
    ]


def test_the_sources_yml_declares_the_contracts_columns():
    contract = load_contract(EXAMPLE / "ingestion" / "contracts" / f"{MARKET}__sales.yml")
    sources = yaml.safe_load((EXAMPLE / "dbt_project" / "models" / "staging" / MARKET / f"_{MARKET}__sources.yml").read_text())
    (source,) = sources["sources"]
    (table,) = source["tables"]
    assert source["name"] == MARKET and table["identifier"] == f"{MARKET}__sales"
    assert source["config"]["loaded_at_field"] == "_loaded_at"
    declared = [c["name"] for c in table["columns"]]
    assert declared == [c.name for c in contract.columns] + ["_file_key", "_file_version", "_row_number", "_loaded_at"]


def test_the_staging_model_lists_only_canonical_columns_and_lacks_some():
    sql = (EXAMPLE / "dbt_project" / "models" / "staging" / MARKET / f"stg_{MARKET}__sales.sql").read_text()
    outputs = set(re.findall(r"\bas (\w+),?\s*$", sql, flags=re.MULTILINE))
    assert REQUIRED <= outputs
    assert outputs - REQUIRED <= _canonical_optional_columns()
    assert "year_built" not in outputs and "living_area" in outputs  # a market lacking attributes, areas in m²
    assert "ref(" not in sql


def test_the_seed_row_fits_the_regions_seed():
    with (REPO / "seeds" / "regions.csv").open() as f:
        header = next(csv.reader(f))
    (row,) = list(csv.reader((EXAMPLE / "seeds" / "regions.csv.row").read_text().splitlines()))
    record = dict(zip(header, row, strict=True))
    assert record["source_system"] == MARKET
    assert record["area_unit"] in {"sqft", "sqm"}
    existing = {r["region_id"] for r in csv.DictReader((REPO / "seeds" / "regions.csv").open())}
    assert record["region_id"] not in existing
