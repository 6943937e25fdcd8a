"""The Redshift writer generates SQL; no cluster exists here, so the tests check the statements
(parsed with sqlglot and sqlfluff's redshift dialects), the manifests, the executor protocol over a
recording fake cursor (fake Redshift only: nothing here stands in for PostgreSQL), and the
pre-normalisation step against a real moto S3 server."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging

import pytest
import sqlfluff
import sqlglot
from sqlglot import exp

from core.errors import TerraMinerError
from ingestion.contract import Contract, load_contracts
from ingestion.landing import LandingObject, LocalLanding, S3Landing
from ingestion.runner import ingest
from ingestion.writers import base as rs_base
from ingestion.writers import redshift as rs

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # LOCK falls back to a Command, with a warning

ROLE = "arn:aws:iam::123456789012:role/TerraMinerLoader"
ROOT = "s3://tm-landing/prod"
CONTRACTS = load_contracts()
EXT = {"jsonl": ".jsonl", "parquet": ".parquet", "csv": ".csv"}


def fake_file(contract: Contract, suffix: str = "", version: str = "etag-1", size: int = 4096) -> LandingObject:
    ext = EXT[contract.format.type] + suffix
    return LandingObject(f"{contract.landing_prefix}2024/01/02/part{ext}", version, size)


def fake_normalized(obj: LandingObject, rows_written: int = 100, rejects: int = 2) -> rs.NormalizedFile:
    key = rs.normalized_key(obj)
    rejects_key = key.replace(".csv.gz", ".rejects.csv.gz") if rejects else None
    return rs.NormalizedFile(obj, key, 2048, rows_written + rejects, rows_written, rejects, rejects_key, 300)


def plan_for(contract: Contract, obj: LandingObject | None = None, **kwargs) -> rs.FilePlan:
    obj = obj or fake_file(contract, ".gz" if contract.name == "recorder__sales" else "")
    if rs.contract_normalization_reasons(contract) and "normalized" not in kwargs:
        kwargs["normalized"] = fake_normalized(obj)
    kwargs.setdefault("shape", rs.FileShape.expected(contract))
    return rs.plan_file(contract, obj, landing_uri=ROOT, iam_role=ROLE, batch_id="batch-1", **kwargs)


def variant(name: str, **fmt) -> Contract:
    data = CONTRACTS[name].model_dump(exclude_none=True)
    data["format"].update(fmt)
    return Contract.model_validate(data)


def copy_of(fp: rs.FilePlan, table_prefix: str = "stage_") -> str:
    return next(s.sql for s in fp.copy if s.sql.startswith(f'COPY "{table_prefix}'))


def assert_parses(statement: rs.Statement) -> None:
    sql, params = statement
    assert sql.count("%s") == len(params), sql
    tree = sqlglot.parse_one(sql, read="redshift")
    if not sql.startswith("LOCK "):
        assert not isinstance(tree, exp.Command), f"sqlglot did not understand: {sql}"
    sqlfluff.parse(sql.replace("%s", "'p'"), dialect="redshift")  # raises on unparsable sections


# ------------------------------------------------------------------------------------------ every contract
@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_every_statement_of_every_contract_parses_as_redshift(name):
    contract = CONTRACTS[name]
    fp = plan_for(contract)
    statements = fp.statements() + rs.raw_tables_ddl(contract)
    assert len(statements) > 15
    for statement in statements:
        assert_parses(statement)
    copy = sqlglot.parse_one(copy_of(fp), read="redshift")
    assert copy.this.this.name == f"stage_{name}"
    assert [c.name for c in copy.this.expressions] == fp.copy_columns
    assert all(c.quoted for c in copy.this.expressions)
    assert copy.args["files"][0].name == f"{ROOT}/{fp.manifest_key}"
    assert copy.args["credentials"].args["iam_role"].name == ROLE
    assert fp.open[1].sql == f'LOCK "raw"."{name}"'
    sql = copy_of(fp)
    for option in ("MANIFEST", "MAXERROR 100000", "COMPUPDATE OFF STATUPDATE OFF", "EMPTYASNULL"):
        assert option in sql
    assert ("ROUNDEC" in sql) == any(c.type.startswith("numeric") for c in contract.columns)
    for forbidden in ("TRUNCATECOLUMNS", "ACCEPTINVCHARS", "ACCEPTANYDATE", "BLANKSASNULL"):
        assert forbidden not in sql
    every = " ".join(s.sql.upper() for s in statements).replace(ROLE.upper(), "<ROLE>")
    for postgres_only in ("DISTINCT ON", "ON CONFLICT", "RETURNING", "ADVISORY", "NOW()", "GENERATED ", "::"):
        assert postgres_only not in every


def test_meta_ddl_is_redshift_ddl():
    statements = rs.meta_ddl()
    for statement in statements:
        assert_parses(statement)
    ledger = statements[2].sql
    assert '"load_id" BIGINT IDENTITY(1, 1)' in ledger and '"error" VARCHAR(65535)' in ledger
    for column in ("contract", "file_key", "file_version", "file_size", "status", "rows_read", "rows_loaded",
                   "rows_rejected", "contract_fingerprint", "started_at", "finished_at", "seconds", "superseded_at"):
        assert f'"{column}"' in ledger
    assert "CHECK" not in ledger.upper() and "CREATE INDEX" not in " ".join(s.sql for s in statements)
    assert '"raw_text" VARCHAR(65535)' in statements[3].sql


def test_raw_table_ddl():
    parcels = rs.raw_tables_ddl(CONTRACTS["assessor__parcels"])
    assert len(parcels) == 2
    sql = parcels[1].sql
    assert sql.startswith('CREATE TABLE IF NOT EXISTS "raw"."assessor__parcels" (')
    assert '"parcel_id" varchar(20) NOT NULL' in sql and '"latitude" numeric(9,6),' in sql
    assert '"_file_key" VARCHAR(1024) NOT NULL, "_file_version" VARCHAR(128) NOT NULL' in sql
    assert '"_row_number" BIGINT NOT NULL, "_loaded_at" TIMESTAMP NOT NULL' in sql
    assert sql.endswith('DISTSTYLE AUTO COMPOUND SORTKEY ("_loaded_at")')
    uk = rs.raw_tables_ddl(CONTRACTS["uk_land_registry__price_paid"])
    assert [s.sql.split('"')[3] for s in uk[1:]] == ["uk_land_registry__price_paid", "uk_land_registry__price_paid__changes"]
    assert all(s.sql.endswith('COMPOUND SORTKEY ("transaction_id")') for s in uk[1:])
    mls = rs.raw_tables_ddl(CONTRACTS["mls__listing_events"])[1].sql
    assert '"event_at" timestamptz NOT NULL' in mls


def test_schema_evolution_adds_columns_and_refuses_type_changes():
    contract = CONTRACTS["hpi__regional_index"]
    existing = {"region_code": "character varying(8)", "period_month": "date", "index_value": "numeric(12,4)"}
    [add] = rs.evolve_table_sql(contract, contract.raw_table, existing)
    assert add.sql == 'ALTER TABLE "raw"."hpi__regional_index" ADD COLUMN "series_id" varchar(16)'
    assert_parses(add)
    assert rs.evolve_table_sql(contract, contract.raw_table, {**existing, "series_id": "character varying(16)"}) == []
    with pytest.raises(rs.RedshiftPlanError, match="index_value is numeric"):
        rs.evolve_table_sql(contract, contract.raw_table, {**existing, "index_value": "numeric(10,2)"})
    assert_parses(rs.existing_columns_query("hpi__regional_index"))


# ------------------------------------------------------------------------------------------ COPY options
def test_nyc_notice_lines_header_and_month_day_year_dates():
    # The real contract needs normalising (thousands separators, blank rows); without them the same
    # layout is a direct COPY: 4 notice lines + the header, M/D/YYYY dates.
    contract = variant("nyc_dof__rolling_sales", thousands_separator=None, skip_blank_rows=False)
    fp = plan_for(contract)
    sql = copy_of(fp)
    assert fp.normalized is None and fp.data_uri == f"{ROOT}/{fp.obj.key}"
    assert "IGNOREHEADER 5" in sql and "DATEFORMAT 'MM/DD/YYYY'" in sql
    assert "FORMAT AS CSV QUOTE AS '\"' DELIMITER ','" in sql and "GZIP" not in sql
    assert fp.copy_columns[:3] == ["borough", "neighborhood", "building_class_category"]


def test_nyc_as_contracted_is_normalised_first():
    contract = CONTRACTS["nyc_dof__rolling_sales"]
    with pytest.raises(rs.NormalizationRequired) as info:
        rs.plan_file(contract, fake_file(contract), landing_uri=ROOT, iam_role=ROLE)
    message = str(info.value)
    assert "nyc_dof__rolling_sales" in message and "thousands_separator" in message and "skip_blank_rows" in message
    fp = plan_for(contract)
    sql = copy_of(fp)
    assert "IGNOREHEADER 1" in sql and "GZIP" in sql and "DATEFORMAT 'YYYY-MM-DD'" in sql
    assert fp.copy_columns[0] == "_row_number"
    manifest = json.loads(fp.artifacts[fp.manifest_key])
    assert manifest["entries"][0]["url"] == f"{ROOT}/{rs.normalized_key(fp.obj)}"
    assert manifest["entries"][0]["url"].startswith(f"{ROOT}/_normalized/nyc_dof/rolling_sales/")
    # the Python rejects are COPYed into the errors table before the data COPY (pg_last_copy_id is the data's)
    copies = [s.sql for s in fp.copy if s.sql.startswith("COPY")]
    assert copies[0].startswith('COPY "errors_nyc_dof__rolling_sales"') and "MAXERROR 0" in copies[0]
    assert copies[1] == sql
    capture = fp.copy[-1].sql
    assert "FROM stl_load_errors WHERE \"query\" = pg_last_copy_id()" in capture
    assert "SPLIT_PART" in capture  # COPY rejects map back to the source line the normalised row carries


def test_gzip_follows_compression_and_extension():
    contract = CONTRACTS["recorder__sales"]
    assert "GZIP" in copy_of(plan_for(contract, fake_file(contract, ".gz")))
    assert "GZIP" not in copy_of(plan_for(contract, fake_file(contract)))
    forced = variant("recorder__sales", compression="gzip")
    assert "GZIP" in copy_of(plan_for(forced, fake_file(forced)))
    assert "DATEFORMAT 'YYYY-MM-DD'" in copy_of(plan_for(contract))


def test_mls_jsonl_is_copied_as_json():
    fp = plan_for(CONTRACTS["mls__listing_events"])
    sql = copy_of(fp)
    assert "FORMAT AS JSON 'auto ignorecase'" in sql and "TIMEFORMAT 'auto'" in sql
    for csv_only in ("IGNOREHEADER", "DELIMITER", "QUOTE", "NULL AS"):
        assert csv_only not in sql


def test_header_order_missing_and_extra_columns():
    contract = CONTRACTS["hpi__regional_index"]
    shape = rs.FileShape(("series_id", "Region_Code ", "index_value", "period_month"), 1)
    fp = plan_for(contract, shape=shape)
    assert fp.copy_columns == ["series_id", "region_code", "index_value", "period_month"]
    parcels = CONTRACTS["assessor__parcels"]
    header = tuple(c.name for c in parcels.columns if c.name != "stories")
    fp = plan_for(parcels, shape=rs.FileShape(header, 1))
    assert "stories" not in fp.copy_columns and fp.notes == ["absent nullable columns loaded as NULL: stories"]
    with pytest.raises(rs.NormalizationRequired, match="undeclared columns"):
        plan_for(contract, shape=rs.FileShape(("region_code", "period_month", "index_value", "series_id", "x"), 1))
    with pytest.raises(rs.NormalizationRequired, match="header was not probed"):
        plan_for(contract, shape=None)
    refused = plan_for(contract, shape=rs.FileShape(("region_code", "index_value", "series_id"), 1))
    assert refused.refused.startswith("missing required column(s) period_month") and refused.copy == []


def test_one_null_token_becomes_null_as_more_need_normalising():
    one = variant("hpi__regional_index", null_tokens=["", "it's"])
    assert "NULL AS 'it''s'" in copy_of(plan_for(one))
    assert_parses(rs.Statement(copy_of(plan_for(one))))
    two = variant("hpi__regional_index", null_tokens=["", "NA", "."])
    assert any("null tokens" in r for r in rs.contract_normalization_reasons(two))


def test_unexpressible_contracts_name_the_feature():
    reasons = {name: rs.contract_normalization_reasons(c) for name, c in CONTRACTS.items()}
    assert {n for n, r in reasons.items() if not r} == {
        "assessor__parcels", "hpi__regional_index", "mls__listing_events", "recorder__sales"
    }
    assert any("unpivot" in r for r in reasons["zillow__zhvi"])
    assert any("unpivot" in r for r in reasons["fred__case_shiller"])
    assert any("%Y%m%dT%H%M%S" in r for r in reasons["king_county__sales"])
    assert any("merge" in r for r in reasons["uk_land_registry__price_paid"])
    latin = variant("hpi__regional_index", encoding="latin-1")
    assert any("latin-1" in r for r in rs.contract_normalization_reasons(latin))
    for name in ("zillow__zhvi", "fred__case_shiller", "king_county__sales", "uk_land_registry__price_paid"):
        contract = CONTRACTS[name]
        with pytest.raises(rs.NormalizationRequired, match=name):
            rs.plan_file(contract, fake_file(contract), landing_uri=ROOT, iam_role=ROLE, shape=None)


@pytest.mark.parametrize(
    ("python", "redshift"),
    [("%Y-%m-%d", "YYYY-MM-DD"), ("%m/%d/%Y", "MM/DD/YYYY"), ("%d.%m.%y", "DD.MM.YY"), ("%Y%m%d", "YYYYMMDD"),
     ("%Y-%m-%d %H:%M", "YYYY-MM-DD HH24:MI"), ("%b %d, %Y", "MON DD, YYYY"), ("%I:%M %p", "HH12:MI AM"),
     ("%Y%m%dT%H%M%S", None), ("%Y-%m-%dT%H:%M:%SZ", None), ("%j", None), ("%Y-%m-%d %H:%M:%S.%f", None)],
)
def test_date_format_mapping(python, redshift):
    assert rs.redshift_datetime_format(python) == redshift


# ------------------------------------------------------------------------------------------ load modes
def test_replace_file_deletes_the_files_rows_then_inserts():
    fp = plan_for(CONTRACTS["king_county__sales"])
    commit = fp.commit_phase(rs.CopyOutcome(100, 0))
    delete, insert = commit[0], commit[1]
    assert delete == rs.Statement('DELETE FROM "raw"."king_county__sales" WHERE "_file_key" = %s', (fp.obj.key,))
    assert insert.sql.startswith('INSERT INTO "raw"."king_county__sales" ("parcel_id", ')
    assert '"_file_key", "_file_version", "_row_number", "_loaded_at") SELECT' in insert.sql
    assert insert.sql.endswith('%s, %s, "_row_number", GETDATE() FROM "stage_king_county__sales"')
    assert insert.params == (fp.obj.key, fp.obj.version)
    direct = plan_for(CONTRACTS["assessor__parcels"]).commit_phase(rs.CopyOutcome(1, 0))[1].sql
    assert 'ROW_NUMBER() OVER (ORDER BY "_row_number")' in direct  # ordinal of the stage's IDENTITY
    assert commit[-1].sql == "COMMIT"
    ledger = next(s for s in commit if s.sql.startswith('INSERT INTO "ingestion_meta"."load_ledger"'))
    assert ledger.params[4:8] == ("loaded", 100, 100, 0)
    supersede = next(s for s in commit if s.sql.startswith("UPDATE"))
    assert supersede.params == ("king_county__sales", fp.obj.key, fp.obj.version)


def test_append_never_deletes():
    contract = Contract.model_validate({**CONTRACTS["hpi__regional_index"].model_dump(exclude_none=True),
                                        "load": {"mode": "append"}})
    commit = plan_for(contract).commit_phase(rs.CopyOutcome(5, 0))
    assert not any(s.sql.startswith("DELETE") for s in commit)
    assert commit[0].sql.startswith('INSERT INTO "raw"."hpi__regional_index"')


def test_uk_merge_recomputes_touched_keys_latest_change_wins():
    contract = CONTRACTS["uk_land_registry__price_paid"]
    fp = plan_for(contract)
    commit = fp.commit_phase(rs.CopyOutcome(99, 1, 1))
    sqls = [s.sql for s in commit]
    changes, live = '"raw"."uk_land_registry__price_paid__changes"', '"raw"."uk_land_registry__price_paid"'
    touched = '"touched_uk_land_registry__price_paid"'
    assert sqls[1] == f'CREATE TEMP TABLE {touched} AS SELECT DISTINCT "transaction_id" FROM {changes} WHERE "_file_key" = %s'
    assert sqls[2] == f'DELETE FROM {changes} WHERE "_file_key" = %s'
    assert sqls[3].startswith(f"INSERT INTO {changes} (")
    assert sqls[4].startswith(f'INSERT INTO {touched} ("transaction_id") SELECT DISTINCT "transaction_id" FROM "stage_')
    assert sqls[5] == f'DELETE FROM {live} USING {touched} WHERE {live}."transaction_id" = {touched}."transaction_id"'
    recompute = commit[6]
    assert recompute.sql.startswith(f"INSERT INTO {live} (")
    assert 'ROW_NUMBER() OVER (PARTITION BY x."transaction_id" ORDER BY x."_file_key" DESC, x."_row_number" DESC)' in recompute.sql
    assert recompute.sql.endswith('WHERE "_rank" = 1 AND ("record_status" IS NULL OR "record_status" NOT IN (%s))')
    assert recompute.params == ("D",)
    assert not any(s.startswith(f"DELETE FROM {live} WHERE") for s in sqls)  # the live table is never deleted by file
    tree = sqlglot.parse_one(recompute.sql, read="redshift")
    assert tree.find(exp.Window) is not None and tree.find(exp.Distinct) is not None


# ------------------------------------------------------------------------------------------ hostile input
HOSTILE_KEY = "hpi/regional_index/2024/01/02/it's\"; drop table x; --'.csv"


def test_hostile_file_key_stays_a_parameter():
    contract = CONTRACTS["hpi__regional_index"]
    obj = LandingObject(HOSTILE_KEY, "v'1\"", 10)
    fp = plan_for(contract, obj)
    for statement in fp.statements():
        assert "drop table" not in statement.sql and "it's" not in statement.sql
        assert_parses(statement)
    assert any(HOSTILE_KEY in s.params for s in fp.statements())
    assert any("v'1\"" in s.params for s in fp.statements())
    manifest = json.loads(fp.artifacts[fp.manifest_key])
    assert manifest["entries"][0]["url"] == f"{ROOT}/{HOSTILE_KEY}"
    normalized = plan_for(CONTRACTS["uk_land_registry__price_paid"], LandingObject(HOSTILE_KEY, "v", 10))
    assert all("drop table" not in s.sql for s in normalized.statements())


@pytest.mark.parametrize(
    "role",
    ["arn:aws:iam::123456789012:role/x' --", "arn:aws:iam::12345:role/short-account", "arn:aws:iam::123456789012:user/bob",
     "arn:aws:iam::123456789012:role/", "arn:aws:iam::123456789012:role/a\\b", "aws_access_key_id=AKIA;x", "",
     "arn:aws:iam::123456789012:role/a,arn:aws:iam::123456789012:role/b"],
)
def test_invalid_iam_roles_are_refused(role):
    contract = CONTRACTS["hpi__regional_index"]
    with pytest.raises(rs.RedshiftPlanError, match="invalid IAM role"):
        rs.plan_file(contract, fake_file(contract), landing_uri=ROOT, iam_role=role, shape=rs.FileShape.expected(contract))


@pytest.mark.parametrize(
    "uri",
    ["s3://tm-landing/pr'od", "s3://TM-Landing/prod", "https://tm-landing/prod", "s3://tm-landing/a/../b",
     "s3://tm-landing/with space", "s3://b/prod", "s3://tm-landing/x\\y", "tm-landing/prod", "s3://tm_landing/p"],
)
def test_invalid_s3_uris_are_refused(uri):
    contract = CONTRACTS["hpi__regional_index"]
    with pytest.raises(rs.RedshiftPlanError, match="invalid S3 URI"):
        rs.plan_file(contract, fake_file(contract), landing_uri=uri, iam_role=ROLE, shape=rs.FileShape.expected(contract))


def test_literals_identifiers_and_batch_ids():
    assert rs.sql_literal("a'b") == "'a''b'"
    for bad in ("a\\b", "a\nb", "a\x00b"):
        with pytest.raises(rs.RedshiftPlanError):
            rs.sql_literal(bad)
    assert rs.quote_ident('we"ird') == '"we""ird"'
    with pytest.raises(rs.RedshiftPlanError):
        rs.quote_ident("x" * 128)
    contract = CONTRACTS["hpi__regional_index"]
    with pytest.raises(rs.RedshiftPlanError, match="invalid batch id"):
        rs.plan_file(contract, fake_file(contract), landing_uri=ROOT, iam_role=ROLE, batch_id="x'; --",
                     shape=rs.FileShape.expected(contract))
    assert rs.validate_s3_uri("s3://tm-landing/prod/") == "s3://tm-landing/prod"


def test_manifest_lists_the_exact_file_with_its_length():
    contract = CONTRACTS["recorder__sales"]
    obj = fake_file(contract, ".gz", size=123_456)
    fp = plan_for(contract, obj)
    assert fp.manifest_key.startswith("_manifests/recorder__sales/batch-1/") and fp.manifest_key.endswith(".manifest")
    body = json.loads(fp.artifacts[fp.manifest_key])
    assert body == {"entries": [{"url": f"{ROOT}/{obj.key}", "mandatory": True, "meta": {"content_length": 123_456}}]}
    other = plan_for(contract, LandingObject(obj.key, "etag-2", 1))
    assert other.manifest_key != fp.manifest_key  # one manifest per file version
    batch = rs.plan(contract, [LandingObject("recorder/sales/b.csv", "2", 1), LandingObject("recorder/sales/a.csv", "1", 1)],
                    landing_uri=ROOT, iam_role=ROLE, batch_id="b", shapes={k: rs.FileShape.expected(contract)
                                                                            for k in ("recorder/sales/a.csv", "recorder/sales/b.csv")})
    assert [f.obj.key for f in batch.files] == ["recorder/sales/a.csv", "recorder/sales/b.csv"]
    assert len(batch.artifacts) == 2


# ------------------------------------------------------------------------------------------ executor
class FakeCursor:
    """Records every execute; SELECTs return canned rows. Raises what ``fail`` says for matching SQL."""

    def __init__(self, *, ledger=(), loaded=0, rejected=0, copy_rejected=None, first=None, fail=None, done=None):
        self.calls: list[tuple[str, tuple]] = []
        self.ledger, self.loaded, self.rejected = list(ledger), loaded, rejected
        self.copy_rejected = rejected if copy_rejected is None else copy_rejected
        self.first, self.fail, self.done = first, fail or {}, done
        self._rows: list[tuple] = []

    def execute(self, sql, params=None):
        self.calls.append((sql, tuple(params or ())))
        for prefix, error in self.fail.items():
            if sql.startswith(prefix):
                raise error
        if sql.startswith('SELECT "load_id", "file_version"'):
            self._rows = self.ledger
        elif sql.startswith('SELECT "status", "contract_fingerprint"'):
            self._rows = [self.done] if self.done else []
        elif sql == "SELECT pg_last_copy_count()":
            self._rows = [(self.loaded,)]
        elif sql.startswith("SELECT COUNT(*)"):
            self._rows = [(self.rejected, self.copy_rejected)]
        elif sql.startswith('SELECT "line_number"'):
            self._rows = [self.first] if self.first else []
        elif sql.startswith("SELECT a.attname"):
            self._rows = []
        else:
            self._rows = []

    def fetchall(self):
        return list(self._rows)

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def sqls(self) -> list[str]:
        return [s for s, _ in self.calls]

    def ledger_rows(self) -> list[tuple]:
        return [p for s, p in self.calls if s.startswith('INSERT INTO "ingestion_meta"."load_ledger"')]

    def raw_inserts(self) -> list[str]:
        return [s for s in self.sqls() if s.startswith('INSERT INTO "raw".')]


def test_a_clean_file_commits():
    contract = CONTRACTS["recorder__sales"]
    fp = plan_for(contract)
    cur = FakeCursor(loaded=1000)
    result = rs.execute_plan(cur, fp)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_rejected) == ("loaded", 1000, 1000, 0)
    sqls = cur.sqls()
    assert sqls[:2] == ["BEGIN", 'LOCK "raw"."recorder__sales"'] and sqls[-1] == "COMMIT"
    assert "ROLLBACK" not in sqls
    assert sqls.index(copy_of(fp)) < sqls.index("SELECT pg_last_copy_count()") < sqls.index(cur.raw_inserts()[0])
    [ledger] = cur.ledger_rows()
    assert ledger[:8] == ("recorder__sales", fp.obj.key, fp.obj.version, fp.obj.size, "loaded", 1000, 1000, 0)
    assert ledger[9] == contract.fingerprint and result.replaced is False


def test_too_many_rejects_go_down_the_refuse_path():
    fp = plan_for(CONTRACTS["recorder__sales"])  # threshold 10%
    cur = FakeCursor(loaded=50, rejected=30, first=(7, "sale_price", "Invalid digit, Value 'x'"))
    result = rs.execute_plan(cur, fp)
    assert result.status == "refused" and (result.rows_read, result.rows_loaded, result.rows_rejected) == (80, 0, 30)
    assert result.error.startswith("30 of 80 rows rejected (37.5% > threshold 10.0%); first: line 7 column sale_price")
    assert cur.raw_inserts() == [] and not any(s.startswith('DELETE FROM "raw"') for s in cur.sqls())
    [ledger] = cur.ledger_rows()
    assert ledger[4:9] == ("refused", 80, 0, 30, result.error)
    assert any(s.startswith('INSERT INTO "ingestion_meta"."rejected_rows"') for s in cur.sqls())
    assert cur.sqls()[-1] == "COMMIT"


def test_rejects_within_the_allowance_still_load():
    fp = plan_for(CONTRACTS["assessor__parcels"])  # threshold 1%, allowance 10 rows
    result = rs.execute_plan(FakeCursor(loaded=90, rejected=10, first=(3, "bedrooms", "Invalid digit")), fp)
    assert result.status == "loaded" and result.rows_rejected == 10


def test_an_already_loaded_version_is_skipped_and_a_refused_one_only_on_retry():
    contract = CONTRACTS["hpi__regional_index"]
    fp = plan_for(contract)
    cur = FakeCursor(ledger=[(1, fp.obj.version, "loaded", contract.fingerprint)])
    assert rs.execute_plan(cur, fp).status == "skipped"
    assert cur.sqls()[-1] == "ROLLBACK" and not any(s.startswith("COPY") for s in cur.sqls())
    refused = [(2, fp.obj.version, "refused", contract.fingerprint)]
    assert rs.execute_plan(FakeCursor(ledger=refused), fp).status == "skipped"
    cur = FakeCursor(ledger=refused, loaded=3)
    assert rs.execute_plan(cur, fp, retry_refused=True).status == "loaded"
    reset = [p for s, p in cur.calls if s.startswith('DELETE FROM "ingestion_meta".')]
    assert reset == [(contract.name, fp.obj.key, fp.obj.version)] * 2  # the earlier attempt is forgotten
    stale = [(2, fp.obj.version, "refused", "older-contract")]
    assert rs.execute_plan(FakeCursor(ledger=stale, loaded=3), fp).status == "loaded"


def test_a_changed_version_replaces_and_append_refuses_it():
    contract = CONTRACTS["hpi__regional_index"]
    fp = plan_for(contract)
    previous = [(1, "etag-0", "loaded", contract.fingerprint)]
    result = rs.execute_plan(FakeCursor(ledger=previous, loaded=4), fp)
    assert result.status == "loaded" and result.replaced
    append = Contract.model_validate({**contract.model_dump(exclude_none=True), "load": {"mode": "append"}})
    cur = FakeCursor(ledger=previous, loaded=4)
    result = rs.execute_plan(cur, plan_for(append))
    assert result.status == "refused" and "append-only contract" in result.error and "etag-0" in result.error
    assert not any(s.startswith("COPY") for s in cur.sqls()) and cur.raw_inserts() == []
    assert cur.ledger_rows()[0][4] == "refused" and cur.sqls()[-1] == "COMMIT"


def test_a_failed_copy_refuses_the_file_and_infrastructure_errors_raise():
    fp = plan_for(CONTRACTS["recorder__sales"])
    error = RuntimeError("Load into table 'stage_recorder__sales' failed. gzip: unexpected end of stream")
    cur = FakeCursor(fail={'COPY "stage_': error})
    result = rs.execute_plan(cur, fp)
    assert result.status == "refused" and "unexpected end of stream" in result.error
    sqls = cur.sqls()
    at = sqls.index("ROLLBACK")
    assert sqls[at + 1 : at + 3] == ["BEGIN", 'LOCK "raw"."recorder__sales"'] and sqls[-1] == "COMMIT"
    assert cur.ledger_rows()[0][4] == "refused" and cur.raw_inserts() == []
    cur = FakeCursor(fail={'COPY "stage_': RuntimeError("S3ServiceException:Access Denied,Status 403")})
    with pytest.raises(TerraMinerError, match="not the file's fault"):
        rs.execute_plan(cur, fp)
    assert cur.ledger_rows() == [] and cur.sqls()[-1] == "ROLLBACK"


def test_a_changed_object_is_not_committed():
    fp = plan_for(CONTRACTS["recorder__sales"])
    cur = FakeCursor(loaded=5)
    with pytest.raises(TerraMinerError, match="changed while"):
        rs.execute_plan(cur, fp, verify=lambda: "s3://x changed while it was being loaded")
    assert cur.sqls()[-1] == "ROLLBACK" and cur.ledger_rows() == [] and cur.raw_inserts() == []


def test_normalised_counts_must_reconcile():
    contract = CONTRACTS["king_county__sales"]
    fp = plan_for(contract)  # 100 rows written, 2 rejected in Python
    ok = rs.execute_plan(FakeCursor(loaded=99, rejected=3, copy_rejected=1), fp)
    assert (ok.status, ok.rows_read, ok.rows_loaded, ok.rows_rejected) == ("loaded", 102, 99, 3)
    cur = FakeCursor(loaded=90, rejected=2, copy_rejected=0)
    bad = rs.execute_plan(cur, fp)
    assert bad.status == "refused" and "internal reconciliation failed" in bad.error and cur.raw_inserts() == []


def test_a_refused_normalisation_records_the_refusal_without_copy():
    contract = CONTRACTS["zillow__zhvi"]
    obj = fake_file(contract)
    fp = plan_for(contract, obj, normalized=rs.NormalizedFile(obj, refused="missing required column RegionID"))
    cur = FakeCursor()
    result = rs.execute_plan(cur, fp)
    assert result.status == "refused" and result.error == "missing required column RegionID"
    assert not any(s.startswith(("COPY", "CREATE TEMP")) for s in cur.sqls())
    assert cur.ledger_rows()[0][4] == "refused"


# ------------------------------------------------------------------------------------------ S3 (moto)
NYC = (
    "\ufeffBronx Rolling Sales File.  All Sales From  September 2019 - August 2020,,,,,,,,,,,,,,,,,,,,\n"
    '"For sales prior to the Final, Neighborhood Name and Descriptive Data reflect the Final Roll",,,,,,,,,,,,,,,,,,,,\n'
    "Building Class Category is based on Building Class at Time of Sale.,,,,,,,,,,,,,,,,,,,,\n"
    "Note: Condominium and cooperative sales are on the unit level.,,,,,,,,,,,,,,,,,,,,\n"
    "BOROUGH,NEIGHBORHOOD,BUILDING CLASS CATEGORY,TAX CLASS AT PRESENT,BLOCK,LOT,EASE-MENT,"
    "BUILDING CLASS AT PRESENT,ADDRESS,APARTMENT NUMBER,ZIP CODE,RESIDENTIAL UNITS,COMMERCIAL UNITS,"
    "TOTAL UNITS,LAND SQUARE FEET,GROSS SQUARE FEET,YEAR BUILT,TAX CLASS AT TIME OF SALE,"
    "BUILDING CLASS AT TIME OF SALE, SALE PRICE ,SALE DATE\n"
    '2,BATHGATE,01 ONE FAMILY DWELLINGS,1,3039,57,,A1,"4462 PARK AVENUE, X",,10457,1,0,1,"1,650","2,184",1901,1,A1,"455,000",9/18/2019\n'
    '2,BATHGATE,02 TWO FAMILY DWELLINGS,1,3030,66,,B1,4475 BATHGATE AVE,,10457,2,0,2,"2,000","2,400",1899,1,B1,"1,250,000",12/03/2019\n'
    '2,BATHGATE,02 TWO FAMILY DWELLINGS,1,3030,67,,B1,4477 BATHGATE AVE,,10457,2,0,2,"2,000","2,400",1899,1,B1,0,31/31/2019\n'
    ",,,,,,,,,,,,,,,,,,,,\n"
    ",,,,,,,,,,,,,,,,,,,,\n"
)


@pytest.fixture
def s3_landing(s3_endpoint, s3_bucket) -> S3Landing:
    return S3Landing(s3_bucket, "landing", endpoint_url=s3_endpoint)


def put(landing: S3Landing, key: str, data: bytes) -> LandingObject:
    with landing.writer(key) as out:
        out.write(data)
    [obj] = [o for o in landing.list(key) if o.key == key]
    return obj


def read_gz_lines(landing: S3Landing, key: str) -> list[str]:
    body = landing.client.get_object(Bucket=landing.bucket, Key=f"landing/{key}")["Body"].read()
    return gzip.decompress(body).decode("utf-8").splitlines()


class FakeConnection:
    def __init__(self, cursor: FakeCursor):
        self._cursor = cursor

    def cursor(self):
        return self._cursor


def test_nyc_is_normalised_through_s3_and_loaded_from_the_normalised_copy(s3_landing):
    contract = CONTRACTS["nyc_dof__rolling_sales"]
    obj = put(s3_landing, "nyc_dof/rolling_sales/2020/09/18/bronx.csv", NYC.encode("utf-8"))
    shape = rs.probe_shape(contract, s3_landing, obj)
    assert shape.header_line == 5 and shape.bom and shape.header[-2] == " SALE PRICE "
    normalized = rs.normalize(contract, s3_landing, obj)
    assert (normalized.rows_read, normalized.rows_written, normalized.rejects) == (3, 2, 1)
    lines = read_gz_lines(s3_landing, normalized.key)
    assert lines[0].startswith("_row_number,borough,neighborhood,")
    assert lines[1].split(",")[0] == "6" and lines[1].endswith(",1650,2184,1901,1,A1,455000,2019-09-18")
    assert '"4462 PARK AVENUE, X"' in lines[1]
    assert lines[2].endswith(",2000,2400,1899,1,B1,1250000,2019-12-03") and len(lines) == 3
    [header, reject] = csv.reader(io.StringIO("\n".join(read_gz_lines(s3_landing, normalized.rejects_key))))
    assert header == ["line_number", "column_name", "reason", "value", "raw_text"]
    assert reject[:4] == ["8", "sale_date", "does not match date format %m/%d/%Y", "31/31/2019"]
    assert reject[4].startswith('2,BATHGATE,02 TWO FAMILY DWELLINGS,1,3030,67,') and reject[4].endswith("31/31/2019\n")

    cur = FakeCursor(loaded=2, rejected=1, copy_rejected=0)
    writer = rs.RedshiftWriter(FakeConnection(cur), s3_landing, ROLE, batch_id="b7")
    result = writer.load(contract, obj)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_rejected) == ("loaded", 3, 2, 1)
    copy = next(s for s in cur.sqls() if s.startswith('COPY "stage_'))
    manifest_key = copy.split("FROM 's3://")[1].split("'")[0].split("/", 2)[2]
    manifest = json.loads(s3_landing.client.get_object(Bucket=s3_landing.bucket, Key=f"landing/{manifest_key}")["Body"].read())
    [entry] = manifest["entries"]
    head = s3_landing.client.head_object(Bucket=s3_landing.bucket, Key=f"landing/{normalized.key}")
    assert entry == {"url": f"{s3_landing.uri}/{normalized.key}", "mandatory": True,
                     "meta": {"content_length": head["ContentLength"]}}
    assert "IGNOREHEADER 1" in copy and "DATEFORMAT 'YYYY-MM-DD'" in copy
    assert any(s.startswith('COPY "errors_nyc_dof__rolling_sales"') for s in cur.sqls())


def test_zillow_wide_file_is_unpivoted(s3_landing):
    contract = CONTRACTS["zillow__zhvi"]
    data = (
        "RegionID,SizeRank,RegionName,RegionType,StateName,2000-01-31,2000-02-29\n"
        "102001,0,United States,country,,121000.5,\n"
        "394913,1,\"New York, NY\",msa,NY,215000,216000.25\n"
    )
    obj = put(s3_landing, "zillow/zhvi/2024/01/31/zhvi.csv", data.encode())
    normalized = rs.normalize(contract, s3_landing, obj)
    assert (normalized.rows_read, normalized.rows_written, normalized.rejects) == (3, 3, 0)
    assert read_gz_lines(s3_landing, normalized.key)[1:] == [
        "2,102001,0,United States,country,,2000-01-31,121000.5",
        '3,394913,1,"New York, NY",msa,NY,2000-01-31,215000',
        '3,394913,1,"New York, NY",msa,NY,2000-02-29,216000.25',
    ]
    fp = plan_for(contract, obj, normalized=normalized)
    assert "DATEFORMAT 'auto'" in copy_of(fp) and fp.copy[-2].sql.startswith('COPY "stage_zillow__zhvi" ("_row_number"')


def test_king_county_dates_and_exponents_are_normalised(s3_landing):
    contract = CONTRACTS["king_county__sales"]
    header = ",".join(c.source_name for c in contract.columns)
    row = '"7129300520","20141013T000000",2.219e+05,3,1,1180,5650,"1",0,0,3,7,1180,0,1955,0,"98178",47.5112,-122.257,1340,5650'
    obj = put(s3_landing, "king_county/sales/2015/05/27/kc.csv", f"{header}\n{row}\n".encode())
    normalized = rs.normalize(contract, s3_landing, obj)
    [line] = read_gz_lines(s3_landing, normalized.key)[1:]
    assert line.startswith("2,7129300520,2014-10-13,221900,3,1,")


def test_a_direct_copy_through_the_writer(s3_landing):
    contract = CONTRACTS["recorder__sales"]
    header = "parcel_id,document_number,sale_date,recording_date,sale_price,deed_type,buyer_name,seller_name\n"
    body = gzip.compress((header + "P1,D1,2024-01-02,2024-01-05,100000,WD,A,B\n").encode())
    obj = put(s3_landing, "recorder/sales/2024/01/02/sales.csv.gz", body)
    cur = FakeCursor(loaded=1)
    writer = rs.RedshiftWriter(FakeConnection(cur), s3_landing, ROLE, batch_id="b8")
    result = writer.load(contract, obj)
    assert result.status == "loaded"
    copy = next(s for s in cur.sqls() if s.startswith('COPY "stage_'))
    assert copy.startswith('COPY "stage_recorder__sales" ("parcel_id", "document_number", "sale_date"')
    assert "GZIP" in copy and "IGNOREHEADER 1" in copy
    keys = [o.key for o in s3_landing.list("_manifests/")]
    [manifest_key] = keys
    manifest = json.loads(s3_landing.client.get_object(Bucket=s3_landing.bucket, Key=f"landing/{manifest_key}")["Body"].read())
    assert manifest["entries"] == [{"url": f"{s3_landing.uri}/{obj.key}", "mandatory": True,
                                    "meta": {"content_length": len(body)}}]
    assert s3_landing.list("_normalized/") == []  # the data never passed through Python
    done = FakeCursor(done=("loaded", contract.fingerprint))
    assert rs.RedshiftWriter(FakeConnection(done), s3_landing, ROLE).load(contract, obj).status == "skipped"
    assert not any(s.startswith("BEGIN") for s in done.sqls())


def test_a_file_missing_a_required_column_is_refused_without_upload(s3_landing):
    contract = CONTRACTS["zillow__zhvi"]
    obj = put(s3_landing, "zillow/zhvi/2024/02/29/zhvi.csv", b"SizeRank,RegionName,2000-01-31\n0,US,1\n")
    cur = FakeCursor()
    result = rs.RedshiftWriter(FakeConnection(cur), s3_landing, ROLE).load(contract, obj)
    assert result.status == "refused" and "RegionID" in result.error
    assert s3_landing.list("_normalized/") == [] and s3_landing.list("_manifests/") == []
    assert cur.ledger_rows()[0][4] == "refused"


def test_probe_on_a_local_landing(tmp_path):
    landing = LocalLanding(tmp_path)
    contract = CONTRACTS["hpi__regional_index"]
    (tmp_path / "hpi").mkdir()
    (tmp_path / "hpi" / "a.csv").write_text("\n\nseries_id,region_code,period_month,index_value\nS,R,2024-01-01,1\n")
    [obj] = landing.list("hpi/")
    shape = rs.probe_shape(contract, landing, obj)
    assert shape.header_line == 3 and not shape.bom and not shape.multiline_header
    fp = plan_for(contract, obj, shape=shape)
    assert "IGNOREHEADER 3" in copy_of(fp) and fp.copy_columns[0] == "series_id"
    uk = CONTRACTS["uk_land_registry__price_paid"]
    (tmp_path / "uk").mkdir()
    (tmp_path / "uk" / "pp.csv").write_bytes(b'\xef\xbb\xbf"{A}","1"\n')
    [uk_obj] = landing.list("uk/")
    assert rs.probe_shape(uk, landing, uk_obj) == rs.FileShape(None, 0, bom=True)


def test_normaliser_rejects_what_redshift_cannot_hold_and_maps_latin_1(tmp_path):
    landing = LocalLanding(tmp_path)
    (tmp_path / "hpi" / "regional_index").mkdir(parents=True)
    path = tmp_path / "hpi" / "regional_index" / "a.csv"
    path.write_bytes(
        b"region_code,period_month,index_value,series_id\n"
        b"R1,2024-01-01,1.5e2,S1\n"
        b"R\xe92,2024-02-01,2,S1\n"
        b"R3,2024-03-01,3,S\x001\n"
    )
    contract = CONTRACTS["hpi__regional_index"]
    [obj] = landing.list("hpi/")
    normalized = rs.normalize(contract, landing, obj)
    assert (normalized.rows_read, normalized.rows_written, normalized.rejects) == (3, 1, 2)
    lines = gzip.decompress((tmp_path / normalized.key).read_bytes()).decode().splitlines()
    assert lines[1] == "2,R1,2024-01-01,150,S1"
    rejects = list(csv.reader(io.StringIO(gzip.decompress((tmp_path / normalized.rejects_key).read_bytes()).decode())))
    assert [r[:2] for r in rejects[1:]] == [["3", "region_code"], ["4", "series_id"]]
    assert rejects[1][2].startswith("invalid byte 0xe9") and rejects[2][2].startswith("NUL byte")
    assert rejects[2][3] == "S\\x001"  # made storable, never silently dropped
    latin = variant("hpi__regional_index", encoding="latin-1")
    normalized = rs.normalize(latin, landing, obj)
    assert (normalized.rows_written, normalized.rejects) == (2, 1)  # é decodes; only the NUL row is rejected
    lines = gzip.decompress((tmp_path / normalized.key).read_bytes()).decode("utf-8").splitlines()
    assert "3,Ré2,2024-02-01,2,S1" in lines


def test_writer_creates_missing_tables():
    cur = FakeCursor()
    writer = rs.RedshiftWriter(FakeConnection(cur), S3Landing("tm-landing", "prod"), ROLE)
    writer.ensure_meta()
    writer.ensure_table(CONTRACTS["uk_land_registry__price_paid"])
    creates = [s for s in cur.sqls() if s.startswith("CREATE TABLE")]
    assert [c.split('"')[1] + "." + c.split('"')[3] for c in creates] == [
        "ingestion_meta.load_ledger", "ingestion_meta.rejected_rows",
        "raw.uk_land_registry__price_paid", "raw.uk_land_registry__price_paid__changes",
    ]


def test_the_runner_drives_the_redshift_writer_through_the_protocol(s3_landing):
    contract = CONTRACTS["recorder__sales"]
    header = "parcel_id,document_number,sale_date,recording_date,sale_price,deed_type,buyer_name,seller_name\n"
    put(s3_landing, "recorder/sales/2024/01/03/sales.csv", (header + "P1,D1,2024-01-02,2024-01-05,100000,WD,A,B\n").encode())
    cur = FakeCursor(loaded=1)
    writer = rs.RedshiftWriter(FakeConnection(cur), s3_landing, ROLE, batch_id="b9")
    pending, report = ingest(writer, {contract.name: contract}, s3_landing)
    assert [p.state for p in pending] == ["new"]
    assert [(r.status, r.rows_loaded) for r in report.results] == [("loaded", 1)]
    sqls = cur.sqls()
    assert sqls[:2] == ['CREATE SCHEMA IF NOT EXISTS "raw"', 'CREATE SCHEMA IF NOT EXISTS "ingestion_meta"']
    assert any(s.startswith('CREATE TABLE IF NOT EXISTS "raw"."recorder__sales"') for s in sqls)
    assert any(s.startswith('COPY "stage_recorder__sales"') for s in sqls)
    # the file's transaction, then the statistics of the table it grew (Redshift skips small changes)
    assert sqls[-2:] == ["COMMIT", 'ANALYZE "raw"."recorder__sales"']


def test_a_version_that_comes_back_reloads_exactly_in_redshift_sql():
    """A → B → A: only current ledger rows count, so A is pending again; its reload replaces B's rows,
    supersedes B, and its rejects attach to the new ledger row, not to A's superseded one."""
    contract = CONTRACTS["hpi__regional_index"]
    fp = plan_for(contract)
    assert 'superseded_at is null' in rs_base.LEDGER_VERSIONS_SQL
    cur = FakeCursor(ledger=[(2, "etag-b", "loaded", contract.fingerprint)], loaded=4)  # A's row is superseded
    result = rs.execute_plan(cur, fp)
    assert result.status == "loaded" and result.replaced
    sqls = cur.sqls()
    delete = next(i for i, s in enumerate(sqls) if s.startswith('DELETE FROM "raw"."hpi__regional_index"'))
    insert = next(i for i, s in enumerate(sqls) if s.startswith('INSERT INTO "raw"."hpi__regional_index"'))
    supersede = next(i for i, s in enumerate(sqls) if s.startswith('UPDATE "ingestion_meta"."load_ledger"'))
    ledger = next(i for i, s in enumerate(sqls) if s.startswith('INSERT INTO "ingestion_meta"."load_ledger"'))
    rejects = next(s for s in sqls if s.startswith('INSERT INTO "ingestion_meta"."rejected_rows"'))
    assert delete < insert < supersede < ledger
    assert 'AND "superseded_at" IS NULL) AS l' in rejects
    done = FakeCursor(done=None)
    writer = rs.RedshiftWriter(FakeConnection(done), S3Landing("tm-landing", "prod"), ROLE)
    assert writer._already_done(contract, fp.obj, False) is False
    assert '"superseded_at" IS NULL' in done.sqls()[-1]


def test_refuse_records_the_reason_without_copying():
    contract = CONTRACTS["hpi__regional_index"]
    cur = FakeCursor()
    writer = rs.RedshiftWriter(FakeConnection(cur), S3Landing("tm-landing", "prod"), ROLE)
    result = writer.refuse(contract, fake_file(contract), "cannot read the file: line\nbreak")
    assert result.status == "refused" and result.error == "cannot read the file: line\\nbreak"
    assert not any(s.startswith("COPY") for s in cur.sqls()) and cur.sqls()[-1] == "COMMIT"
    assert cur.ledger_rows()[0][4] == "refused"
