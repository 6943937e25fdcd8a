"""COPY manifests (one per file version) and the names of load artifacts."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

MANIFEST_PREFIX = "_manifests/"


def manifest_json(entries: Sequence[tuple[str, int]]) -> bytes:
    """A COPY manifest listing exactly these objects (``(s3 url, content length)``), all mandatory."""
    body = {
        "entries": [{"url": url, "mandatory": True, "meta": {"content_length": int(size)}} for url, size in entries]
    }
    return (json.dumps(body, indent=2) + "\n").encode()


def digest(*parts: str, n: int = 20) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:n]


def new_batch_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]

