"""The landing zone: a local folder (default) or an S3 bucket/prefix, behind one small interface.

Keys are relative to the landing root and use ``/``: ``<source>/<entity>/<yyyy>/<mm>/<dd>/<file>``.
A file version is identified by its key plus a content version (S3 ETag, or the MD5 of a local
file, which is what S3 reports as the ETag of a single-part upload).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlparse

from core.errors import TerraMinerError

_CHUNK = 1 << 20


@dataclass(frozen=True, order=True)
class LandingObject:
    key: str
    version: str
    size: int


class Landing(Protocol):
    uri: str

    def list(self, prefix: str = "") -> list[LandingObject]:
        """Objects under ``prefix``, sorted by key."""

    def open(self, obj: LandingObject) -> BinaryIO:
        """A streaming binary reader of exactly that version (never read whole into memory)."""

    def local_path(self, obj: LandingObject) -> contextlib.AbstractContextManager[Path]:
        """A local file with the object's bytes (random access, e.g. Parquet)."""

    def writer(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """Write an object; it appears atomically when the block exits without error."""

    def describe(self, key: str) -> str:
        """A human/URI form of ``key`` for messages."""


class LocalLanding:
    def __init__(self, root: Path):
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents and path != self.root:
            raise TerraMinerError(f"landing key {key!r} escapes the landing root {self.root}")
        return path

    def list(self, prefix: str = "") -> list[LandingObject]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        objects = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if name.startswith(".") or name.endswith(".tmp"):
                    continue
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                stat = path.stat()
                objects.append(LandingObject(key, _cached_md5(path, stat.st_size, stat.st_mtime_ns), stat.st_size))
        return sorted(objects)

    def open(self, obj: LandingObject) -> BinaryIO:
        return open(self._path(obj.key), "rb", buffering=_CHUNK)

    @contextlib.contextmanager
    def local_path(self, obj: LandingObject) -> Iterator[Path]:
        yield self._path(obj.key)

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with open(tmp, "wb", buffering=_CHUNK) as handle:
                yield handle
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def describe(self, key: str) -> str:
        return str(self.root / key)


class S3Landing:
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, client=None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._endpoint_url = endpoint_url
        self._client = client

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=self._endpoint_url)
        return self._client

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix: str = "") -> list[LandingObject]:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._full(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        objects = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][strip:]
                    if key.endswith("/") or key.rsplit("/", 1)[-1].startswith("."):
                        continue
                    objects.append(LandingObject(key, item["ETag"].strip('"'), int(item["Size"])))
        except (BotoCoreError, ClientError) as err:
            raise TerraMinerError(
                f"cannot list {self.uri}/{prefix}: {err}; check AWS credentials, the bucket name and AWS_ENDPOINT_URL"
            ) from None
        return sorted(objects)

    def open(self, obj: LandingObject) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(obj.key), IfMatch=obj.version)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "412"):
                raise TerraMinerError(
                    f"{self.describe(obj.key)} changed while it was being loaded: run the ingest again"
                ) from None
            raise TerraMinerError(f"cannot read {self.describe(obj.key)}: {err}") from None
        return response["Body"]

    @contextlib.contextmanager
    def local_path(self, obj: LandingObject) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="terraminer-") as tmp:
            path = Path(tmp) / obj.key.rsplit("/", 1)[-1]
            with self.open(obj) as body, open(path, "wb") as out:
                shutil.copyfileobj(body, out, _CHUNK)
            yield path

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        with tempfile.TemporaryFile() as tmp:
            yield tmp
            tmp.seek(0)
            self.client.upload_fileobj(tmp, self.bucket, self._full(key))

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"


def open_landing(uri: str, endpoint_url: str | None = None, client=None) -> Landing:
    """``s3://bucket/prefix`` → :class:`S3Landing`; a path or ``file://`` URI → :class:`LocalLanding`."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise TerraMinerError(f"landing URI {uri!r} has no bucket: use s3://bucket/prefix")
        return S3Landing(parsed.netloc, parsed.path, endpoint_url=endpoint_url, client=client)
    if parsed.scheme in ("", "file"):
        return LocalLanding(Path(parsed.path if parsed.scheme == "file" else uri))
    raise TerraMinerError(f"landing URI {uri!r} is not supported: use a folder path, file:///path or s3://bucket/prefix")


_MD5_CACHE: dict[tuple[str, int, int], str] = {}


def _cached_md5(path: Path, size: int, mtime_ns: int) -> str:
    """MD5 of a local file, remembered per (path, size, mtime) so repeated listings (sensor ticks,
    re-runs) do not re-read unchanged files."""
    key = (str(path), size, mtime_ns)
    digest = _MD5_CACHE.get(key)
    if digest is None:
        digest = _md5(path)
        if len(_MD5_CACHE) > 200_000:
            _MD5_CACHE.clear()
        _MD5_CACHE[key] = digest
    return digest


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
