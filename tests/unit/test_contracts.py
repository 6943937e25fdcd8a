import textwrap

import pytest

from core.errors import TerraMinerError
from ingestion.contract import CONTRACTS_DIR, load_contract, load_contracts

REAL = {"king_county__sales", "nyc_dof__rolling_sales", "uk_land_registry__price_paid", "fred__case_shiller", "zillow__zhvi"}
SYNTHETIC = {"assessor__parcels", "recorder__sales", "mls__listing_events", "hpi__regional_index"}


def test_every_contract_validates():
    contracts = load_contracts()
    assert REAL | SYNTHETIC <= set(contracts)
    for name, contract in contracts.items():
        assert contract.landing_prefix == name.replace("__", "/") + "/"
        assert contract.fingerprint == load_contract(CONTRACTS_DIR / f"{name}.yml").fingerprint


def write(tmp_path, name, body):
    path = tmp_path / f"{name}.yml"
    path.write_text(textwrap.dedent(body))
    return path


GOOD = """
    name: demo__things
    description: test
    landing_prefix: demo/things/
    format: {type: csv}
    columns:
      - {name: thing_id, type: varchar(10), nullable: false}
      - {name: amount, type: "numeric(10,2)"}
    key: [thing_id]
    load: {mode: replace_file}
"""


def test_a_good_contract_loads(tmp_path):
    contract = load_contract(write(tmp_path, "demo__things", GOOD))
    assert contract.column("amount").type == "numeric(10,2)"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("type: \"numeric(10,2)\"", "type: money"), "columns.1.type"),
        (("mode: replace_file", "mode: upsert"), "load.mode"),
        (("mode: replace_file", "mode: merge"), "load"),
        (("landing_prefix: demo/things/", "landing_prefix: things/"), "(top level)"),
        (("key: [thing_id]", "key: [nope]"), "(top level)"),
        (("key: [thing_id]", "index_key: true"), "(top level)"),
        (("format: {type: csv}", "format: {type: csv, delimiter: ';;'}"), "format.delimiter"),
        (("description: test", "description: test\n    surprise: 1"), "surprise"),
    ],
)
def test_a_bad_contract_names_file_and_field(tmp_path, change, field):
    path = write(tmp_path, "demo__things", GOOD.replace(*change))
    with pytest.raises(TerraMinerError) as info:
        load_contract(path)
    message = str(info.value)
    assert str(path) in message and f"field {field}" in message


def test_name_must_match_file(tmp_path):
    path = write(tmp_path, "demo__other", GOOD)
    with pytest.raises(TerraMinerError, match="must equal the file name"):
        load_contract(path)


def test_unknown_contract_names_are_listed(tmp_path):
    write(tmp_path, "demo__things", GOOD)
    with pytest.raises(TerraMinerError, match="unknown contract.*known are demo__things"):
        load_contracts(tmp_path, names=["nope__nope"])
