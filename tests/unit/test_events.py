"""S3 event notifications as the landing events sensor reads them (no queue needed)."""

import json

import pytest

from ingestion.events import (
    TEST,
    PoisonMessage,
    Received,
    contract_of,
    landing_prefix_of,
    parse_message,
    sort_messages,
)

PREFIXES = {"recorder__sales": "recorder/sales/", "assessor__parcels": "assessor/parcels/"}


def _event(key: str, bucket: str = "landing-zone", name: str = "ObjectCreated:Put") -> str:
    return json.dumps({"Records": [{"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})


def test_keys_are_url_decoded_and_the_landing_prefix_stripped():
    body = _event("in%2Frecorder%2Fsales%2F2024%2F01%2F02%2Fsales+2024.csv.gz")
    assert parse_message(body, "landing-zone", "in") == ["recorder/sales/2024/01/02/sales 2024.csv.gz"]
    assert parse_message(body, "landing-zone", "other") == []
    assert parse_message(body, "another-bucket", "in") == []
    assert parse_message(_event("in/x.csv", name="ObjectRemoved:Delete"), "landing-zone", "in") == []


def test_test_event_sns_envelope_and_poison():
    assert parse_message(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}), "b-1") == TEST
    wrapped = json.dumps({"Type": "Notification", "Message": _event("recorder/sales/a.csv")})
    assert parse_message(wrapped, "landing-zone") == ["recorder/sales/a.csv"]
    for body in ("not json", "[1, 2]", json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}), "{}"):
        with pytest.raises(PoisonMessage):
            parse_message(body, "landing-zone")


def test_messages_sorted_into_contract_batches():
    messages = [
        Received("1", "r1", _event("recorder/sales/2024/01/02/a.csv"), 1),
        Received("2", "r2", _event("recorder/sales/2024/01/02/a.csv"), 1),  # duplicate event
        Received("3", "r3", _event("assessor/parcels/2024/p.csv"), 1),
        Received("4", "r4", _event("unknown/feed/x.csv"), 1),  # no contract: deleted at once
        Received("5", "r5", json.dumps({"Event": "s3:TestEvent"}), 1),
        Received("6", "r6", "garbage", 3),
        Received("7", "r7", _event("recorder/sales/.hidden"), 1),
    ]
    batch = sort_messages(messages, "landing-zone", "", PREFIXES)
    assert batch.keys == {"recorder__sales": {"recorder/sales/2024/01/02/a.csv"},
                          "assessor__parcels": {"assessor/parcels/2024/p.csv"}}
    assert batch.done == ["r1", "r2", "r3"]
    assert batch.ignorable == ["r4", "r5", "r7"]
    assert [m.message_id for m in batch.poison] == ["6"]
    assert contract_of("recorder/sales/", PREFIXES) is None


def test_landing_events_need_an_s3_landing():
    assert landing_prefix_of("s3://bucket-a/some/prefix/") == ("bucket-a", "some/prefix")
    with pytest.raises(Exception, match="S3 landing zone"):
        landing_prefix_of("/tmp/landing")


def test_keyed_landing_scans_only_the_named_keys(tmp_path):
    """The runner's discovery reads a landing zone through ``scan`` (issue 19: keyed runs of the
    events sensor failed with AttributeError before KeyedLanding had it)."""
    from ingestion.events import KeyedLanding
    from ingestion.landing import LocalLanding

    landing = LocalLanding(tmp_path)
    keys = ["recorder/sales/2024/01/02/a.csv", "recorder/sales/2024/01/03/b.csv", "assessor/parcels/2024/01/02/p.csv"]
    for key in [*keys, "recorder/sales/2024/01/04/not_announced.csv"]:
        with landing.writer(key) as out:
            out.write(b"x,y\n1,2\n")
    keyed = KeyedLanding(landing, [*keys, "recorder/sales/2024/01/05/deleted.csv"])
    listing = keyed.scan("recorder/sales/")
    assert [o.key for o in listing.objects] == keys[:2] and listing.problems == []
    assert keyed.list("recorder/sales/") == listing.objects
    assert [o.key for o in keyed.scan().objects] == sorted(keys)
