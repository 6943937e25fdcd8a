"""Event-driven landing: S3 event notifications delivered to an SQS queue (AWS's own pattern).

The landing sensor of a folder lists it on every tick; an S3 bucket with millions of objects is
better watched through its event notifications. This module holds everything that is not Dagster:

- :func:`parse_message`: an SQS message body → the landing keys it announces (URL-decoded, with
  the landing prefix stripped), or ``TEST`` for the ``s3:TestEvent`` S3 sends first, or raises
  :class:`PoisonMessage` when it cannot be read;
- :class:`EventQueue`: receive (long poll), delete, and hold a poison message back so SQS's redrive
  policy moves it to the dead-letter queue after ``maxReceiveCount`` receives;
- :class:`KeyedLanding`: the landing zone restricted to named keys, so an ingestion run loads the
  announced files (one ``head_object`` each) without listing the bucket;
- :func:`ensure_event_queue`: queue + dead-letter queue + redrive policy + the bucket's
  notification configuration (tests, the benchmark, a new environment).

Delivery is at least once: a message is deleted only after the run that loads its files exists,
and the ingestion ledger turns any repeat (a duplicate event, a re-delivered message, an event that
arrives after a newer version of its object) into a no-op.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urlparse

from core.errors import TerraMinerError
from ingestion.landing import FilteredLanding, Landing, LandingObject, Listing, ListingProblem, key_problem

TEST = "test"
DEFAULT_MAX_RECEIVES = 5


class PoisonMessage(TerraMinerError):
    """A message that is not an S3 event notification (it ends in the dead-letter queue)."""


@dataclass(frozen=True)
class Received:
    message_id: str
    receipt: str
    body: str
    receive_count: int


@dataclass
class Batch:
    """What one receive found: landing keys per contract, and the messages to delete or hold."""

    keys: dict[str, set[str]] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    """receipts of messages whose keys are in ``keys`` (delete once their run exists)"""
    ignorable: list[str] = field(default_factory=list)
    """receipts of test events and messages with no key of a contract (delete now)"""
    poison: list[Received] = field(default_factory=list)
    skipped_keys: list[str] = field(default_factory=list)


def landing_prefix_of(landing_uri: str) -> tuple[str, str]:
    """(bucket, prefix) of an ``s3://bucket/prefix`` landing URI."""
    parsed = urlparse(landing_uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise TerraMinerError(f"landing events need an S3 landing zone (s3://bucket/prefix), not {landing_uri!r}")
    return parsed.netloc, parsed.path.strip("/")


def parse_message(body: str, bucket: str, prefix: str = "") -> str | list[str]:
    """The landing keys an S3 notification announces (object-created records of ``bucket`` under
    ``prefix``), or :data:`TEST` for an ``s3:TestEvent``. Raises :class:`PoisonMessage`."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        raise PoisonMessage(f"not JSON: {body[:80]!r}") from None
    if isinstance(payload, dict) and "Message" in payload and "Records" not in payload:
        try:  # delivered through SNS: the S3 notification is the envelope's Message
            payload = json.loads(payload["Message"])
        except (TypeError, ValueError):
            raise PoisonMessage(f"SNS envelope without an S3 notification: {body[:80]!r}") from None
    if not isinstance(payload, dict):
        raise PoisonMessage(f"not an S3 notification: {body[:80]!r}")
    if payload.get("Event") == "s3:TestEvent":
        return TEST
    records = payload.get("Records")
    if not isinstance(records, list):
        raise PoisonMessage(f"no Records in {body[:80]!r}")
    keys = []
    for record in records:
        try:
            event = record["eventName"]
            record_bucket = record["s3"]["bucket"]["name"]
            key = unquote_plus(record["s3"]["object"]["key"])
        except (KeyError, TypeError):
            raise PoisonMessage(f"a record without eventName / s3.bucket.name / s3.object.key: {body[:120]!r}") from None
        if not event.startswith("ObjectCreated") or record_bucket != bucket:
            continue
        if prefix:
            if not key.startswith(prefix + "/"):
                continue
            key = key[len(prefix) + 1:]
        keys.append(key)
    return keys


def contract_of(key: str, prefixes: dict[str, str]) -> str | None:
    """The contract whose landing prefix holds ``key`` (hidden files and folders belong to none)."""
    name = key.rsplit("/", 1)[-1]
    if not name or name.startswith("."):
        return None
    for contract, prefix in prefixes.items():
        if key.startswith(prefix):
            return contract
    return None


def sort_messages(messages: list[Received], bucket: str, prefix: str, prefixes: dict[str, str]) -> Batch:
    batch = Batch()
    for message in messages:
        try:
            parsed = parse_message(message.body, bucket, prefix)
        except PoisonMessage:
            batch.poison.append(message)
            continue
        if parsed == TEST:
            batch.ignorable.append(message.receipt)
            continue
        matched = False
        for key in parsed:
            contract = contract_of(key, prefixes)
            if contract is None:
                batch.skipped_keys.append(key)
                continue
            batch.keys.setdefault(contract, set()).add(key)
            matched = True
        (batch.done if matched else batch.ignorable).append(message.receipt)
    return batch


def _sqs_client(endpoint_url: str | None):
    import boto3

    return boto3.client("sqs", endpoint_url=endpoint_url)


def resolve_queue_url(events: str, endpoint_url: str | None = None, client=None) -> str:
    """``sqs://<queue-name>`` → its URL (``get_queue_url``); an ``http(s)://`` queue URL as is."""
    parsed = urlparse(events)
    if parsed.scheme in ("http", "https"):
        return events
    if parsed.scheme != "sqs" or not (parsed.netloc or parsed.path.strip("/")):
        raise TerraMinerError(
            f"TERRAMINER_LANDING_EVENTS={events!r}: use sqs://<queue-name> or the queue URL (https://sqs.…/<account>/<name>)"
        )
    name = (parsed.netloc + parsed.path).strip("/").rsplit("/", 1)[-1]
    client = client or _sqs_client(endpoint_url)
    try:
        return client.get_queue_url(QueueName=name)["QueueUrl"]
    except Exception as err:  # botocore ClientError / EndpointConnectionError
        raise TerraMinerError(f"cannot find SQS queue {name!r} ({err}): create it, or check AWS_ENDPOINT_URL") from None


class EventQueue:
    """The SQS queue that receives the landing bucket's notifications."""

    def __init__(self, queue_url: str, endpoint_url: str | None = None, client=None):
        self.url = queue_url
        self.client = client or _sqs_client(endpoint_url)

    def receive(self, *, max_messages: int = 100, wait_seconds: int = 5, visibility_seconds: int = 300,
                more_seconds: float | None = None) -> list[Received]:
        """Up to ``max_messages``: one long poll of ``wait_seconds`` (it returns as soon as a message
        is there), then short polls while the queue keeps returning full pages, for at most
        ``more_seconds`` after the long poll (unbounded when None)."""
        messages: dict[str, Received] = {}
        wait = wait_seconds
        until = None
        while len(messages) < max_messages:
            response = self.client.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=min(10, max_messages - len(messages)),
                WaitTimeSeconds=wait, VisibilityTimeout=visibility_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            page = response.get("Messages", [])
            for m in page:
                count = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                messages[m["MessageId"]] = Received(m["MessageId"], m["ReceiptHandle"], m.get("Body", ""), count)
            if len(page) < 10:
                break
            if until is None and more_seconds is not None:
                until = time.monotonic() + more_seconds
            if until is not None and time.monotonic() >= until:
                break
            wait = 0
        return list(messages.values())

    def delete(self, receipts: list[str]) -> list[str]:
        """Delete by receipt handle; returns the errors (a stale handle: the message comes back
        and the ledger makes it a no-op)."""
        errors = []
        for start in range(0, len(receipts), 10):
            chunk = receipts[start:start + 10]
            response = self.client.delete_message_batch(
                QueueUrl=self.url, Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)],
            )
            errors += [f"{f.get('Code')}: {f.get('Message')}" for f in response.get("Failed", [])]
        return errors

    def hold_back(self, message: Received, seconds: int) -> None:
        """Make a message visible again after ``seconds`` (a poison message is received again until
        the redrive policy moves it to the dead-letter queue)."""
        with contextlib.suppress(Exception):  # an expired handle: it is visible again anyway
            self.client.change_message_visibility(QueueUrl=self.url, ReceiptHandle=message.receipt,
                                                  VisibilityTimeout=max(0, seconds))


class KeyedLanding(FilteredLanding):
    """A landing zone whose ``list`` returns only the named keys (their current version, one
    ``head_object`` each, a deleted key left out); everything else is the wrapped landing's."""

    def __init__(self, inner: Landing, keys: list[str]):
        super().__init__(inner)
        self.keys = sorted(set(keys))

    def scan(self, prefix: str = "") -> Listing:
        """The named keys under ``prefix`` as the runner's discovery reads a landing zone: loadable
        objects, and keys the ledger cannot hold as they are (refused with the reason, as
        :meth:`ingestion.landing.LocalLanding.scan` lists them)."""
        objects, problems = [], []
        for key in self.keys:
            if not key.startswith(prefix):
                continue
            obj = head(self.inner, key)
            if obj is None:
                continue
            problem = key_problem(key)
            if problem is None:
                objects.append(obj)
            else:
                problems.append(ListingProblem(key, problem, refuse=True, version=obj.version, size=obj.size))
        return Listing(sorted(objects), problems)


def head(landing: Landing, key: str) -> LandingObject | None:
    """The current version of one key, or None when it no longer exists."""
    client = getattr(landing, "client", None)
    if client is None:  # a local folder: list the key's folder (a listing of the key itself finds nothing)
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        return next((o for o in landing.list(folder) if o.key == key), None)
    from botocore.exceptions import ClientError

    try:
        response = client.head_object(Bucket=landing.bucket, Key=landing._full(key))
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise TerraMinerError(f"cannot read {landing.describe(key)}: {err}") from None
    return LandingObject(key, response["ETag"].strip('"'), int(response["ContentLength"]))


def ensure_event_queue(bucket: str, queue_name: str, *, endpoint_url: str | None = None,
                       max_receives: int = DEFAULT_MAX_RECEIVES, prefix: str = "") -> tuple[str, str]:
    """The queue (and its ``<name>-dlq`` dead-letter queue, after ``max_receives`` receives) that
    the bucket notifies of every created object. Idempotent; returns (queue URL, DLQ URL)."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=endpoint_url)
    dlq_url = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName=queue_name, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}),
        "VisibilityTimeout": "300",
    })["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule: dict = {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}
    if prefix:
        rule["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix.strip("/") + "/"}]}}
    boto3.client("s3", endpoint_url=endpoint_url).put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [rule]},
    )
    return queue_url, dlq_url


def iter_keys(batch: Batch) -> Iterator[tuple[str, str]]:
    for contract in sorted(batch.keys):
        for key in sorted(batch.keys[contract]):
            yield contract, key
