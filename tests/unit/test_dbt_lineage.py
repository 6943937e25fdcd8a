"""Lineage is visible in the models (macros/README.md): no model needs a ``-- depends_on:`` hint
for dbt to order it, and no macro ``ref()``s a model (the models pass the relations they read)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
REF_CALL = re.compile(r"\bref\s*\(")


def test_no_model_or_test_carries_a_depends_on_hint():
    hinted = [str(p.relative_to(ROOT)) for p in (ROOT / "dbt_project").rglob("*.sql")
              if re.search(r"--\s*depends_on\s*:", p.read_text())]
    assert hinted == []


def test_no_macro_refs_a_model():
    calling = [str(p.relative_to(ROOT)) for p in (ROOT / "macros").rglob("*.sql")
               if REF_CALL.search(JINJA_COMMENT.sub("", p.read_text()))]
    assert calling == []


def test_the_checks_above_would_see_a_ref():
    assert REF_CALL.search("select * from {{ ref('fct_sales') }}")
    assert not REF_CALL.search(JINJA_COMMENT.sub("", "{# the model passes ref('x') #} select 1"))
