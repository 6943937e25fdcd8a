"""The landing zone: a local folder (default) or an S3 bucket/prefix, behind one small interface.

Keys are relative to the landing root and use ``/``: ``<source>/<entity>/<yyyy>/<mm>/<dd>/<file>``.
A file version is identified by its key plus a content version (S3 ETag, or the MD5 of a local
file, which is what S3 reports as the ETag of a single-part upload).

Listing is safe on any landing zone (:meth:`LocalLanding.scan`): only regular files are landing
files. A symbolic link is followed only to a regular file inside the landing root; links out of the
root, dangling links, FIFOs, devices, sockets and unreadable entries are skipped with a reason
(never opened, so never a hang). A key the ledger cannot hold as it is (control characters, bytes
that are not UTF-8, longer than ``MAX_KEY_BYTES``) is listed as a problem to refuse with a reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import os
import re
import shutil
import stat as stat_module
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlparse

from core.errors import TerraMinerError

_CHUNK = 1 << 20
MAX_KEY_BYTES = 1024  # the ledger's file_key is varchar(1024) (bytes on Redshift)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNDECODABLE = re.compile("[\ud800-\udfff]")  # file-name bytes that are not UTF-8 (surrogateescape)


@dataclass(frozen=True, order=True)
class LandingObject:
    key: str
    version: str
    size: int


@dataclass(frozen=True)
class ListingProblem:
    """A landing entry that is not loaded. ``refuse``: a regular file whose key the ledger cannot hold
    as it is (refused under :func:`ledger_key`, with ``version`` and ``size``); otherwise an entry that
    is not a regular file (skipped, nothing recorded)."""

    key: str
    reason: str
    refuse: bool = False
    version: str = ""
    size: int = 0


@dataclass
class Listing:
    objects: list[LandingObject]
    problems: list[ListingProblem]


def key_problem(key: str) -> str | None:
    """Why a landing key cannot be loaded under its own name, or None."""
    if _CONTROL.search(key):
        return "landing key holds control characters (newline, tab, NUL…): rename the file"
    if _UNDECODABLE.search(key):
        return "landing key is not valid UTF-8: rename the file"
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        return f"landing key is {size} bytes, longer than the ledger's {MAX_KEY_BYTES}: use a shorter name"
    return None


def ledger_key(key: str) -> str:
    """The key itself, or for a key :func:`key_problem` refuses a printable stand-in of at most
    ``MAX_KEY_BYTES`` bytes that names it uniquely (an MD5 of the real key at the end)."""
    if key_problem(key) is None:
        return key
    digest = hashlib.md5(key.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", key)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    cut = text.encode("utf-8")[: MAX_KEY_BYTES - 64].decode("utf-8", "ignore")
    return f"{cut}… [key md5 {digest}]" if cut != text else f"{text} [key md5 {digest}]"


class FileChanged(Exception):
    """The bytes read are not the version listed (the file changed while it was being loaded)."""


class Landing(Protocol):
    uri: str

    def list(self, prefix: str = "") -> list[LandingObject]:
        """Objects under ``prefix``, sorted by key."""

    def scan(self, prefix: str = "") -> Listing:
        """Loadable objects under ``prefix`` (sorted by key) and the entries that are not."""

    def open(self, obj: LandingObject) -> BinaryIO:
        """A streaming binary reader of exactly that version (never read whole into memory)."""

    def local_path(self, obj: LandingObject) -> contextlib.AbstractContextManager[Path]:
        """A local file with the object's bytes (random access, e.g. Parquet)."""

    def writer(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """Write an object; it appears atomically when the block exits without error."""

    def describe(self, key: str) -> str:
        """A human/URI form of ``key`` for messages."""


_DATE_FOLDER = re.compile(r"(\d{4})/(\d{2})/(\d{2})/")


def landing_date(key: str, prefix: str = "") -> dt.date | None:
    """The landing date of ``key``: its ``<yyyy>/<mm>/<dd>/`` folder right under ``prefix`` (the
    contract's landing prefix), or None when it has none."""
    if not key.startswith(prefix):
        return None
    match = _DATE_FOLDER.match(key, len(prefix))
    if match is None:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


class FilteredLanding:
    """A landing zone that lists a subset of the wrapped zone's objects: a subclass overrides only
    :meth:`scan`. Reading, writing, describing and every other attribute are the wrapped zone's."""

    def __init__(self, inner: Landing):
        self.inner = inner
        self.uri = inner.uri

    def __getattr__(self, name: str):
        """The wrapped zone's other attributes (an S3 zone's client, bucket, prefix)."""
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def list(self, prefix: str = "") -> list[LandingObject]:
        return self.scan(prefix).objects

    def scan(self, prefix: str = "") -> Listing:
        raise NotImplementedError

    def open(self, obj: LandingObject) -> BinaryIO:
        return self.inner.open(obj)

    def local_path(self, obj: LandingObject) -> contextlib.AbstractContextManager[Path]:
        return self.inner.local_path(obj)

    def writer(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return self.inner.writer(key)

    def describe(self, key: str) -> str:
        return self.inner.describe(key)


class DatedLanding(FilteredLanding):
    """A landing zone restricted to keys whose landing date (:func:`landing_date` under the listed
    prefix) lies in ``[start, end)``: one Dagster partition (a day) or a range of them (a backfill
    in one run). Keys without a date folder belong to no day. Everything else is the wrapped zone's."""

    def __init__(self, inner: Landing, start: dt.date, end: dt.date):
        super().__init__(inner)
        self.start, self.end = start, end

    def _inside(self, key: str, prefix: str) -> bool:
        day = landing_date(key, prefix)
        return day is not None and self.start <= day < self.end

    def scan(self, prefix: str = "") -> Listing:
        listing = self.inner.scan(prefix)
        return Listing([o for o in listing.objects if self._inside(o.key, prefix)],
                       [p for p in listing.problems if self._inside(p.key, prefix)])


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
        return self.scan(prefix).objects

    def scan(self, prefix: str = "") -> Listing:
        base = self.root / prefix if prefix else self.root
        if not base.exists() and not base.is_symlink():
            return Listing([], [])
        objects: list[LandingObject] = []
        problems: list[ListingProblem] = []

        def relative(path: str | Path) -> str:
            return Path(path).relative_to(self.root).as_posix() if Path(path).is_relative_to(self.root) else str(path)

        def unreadable(err: OSError) -> None:
            problems.append(ListingProblem(relative(err.filename or base), f"cannot read directory: {err.strerror}"))

        if base.is_symlink() or not base.resolve().is_relative_to(self.root):
            return Listing([], [ListingProblem(relative(base), "landing folder is a symbolic link: not followed")])
        for dirpath, dirnames, filenames in os.walk(base, onerror=unreadable):  # never follows links
            keep = []
            for name in sorted(dirnames):
                if name.startswith("."):
                    continue
                if os.path.islink(os.path.join(dirpath, name)):
                    problems.append(ListingProblem(relative(Path(dirpath) / name),
                                                   "symbolic link to a directory: not followed"))
                    continue
                keep.append(name)
            dirnames[:] = keep
            for name in filenames:
                if name.startswith(".") or name.endswith(".tmp"):
                    continue
                path = Path(dirpath) / name
                key = relative(path)
                try:
                    info = self._regular(path)
                    version = _cached_md5(path, info)
                except _NotRegular as err:
                    problems.append(ListingProblem(key, str(err)))
                    continue
                except OSError as err:
                    problems.append(ListingProblem(key, f"cannot read: {err.strerror or err}"))
                    continue
                problem = key_problem(key)
                if problem is not None:
                    problems.append(ListingProblem(key, problem, True, version, info.st_size))
                else:
                    objects.append(LandingObject(key, version, info.st_size))
        return Listing(sorted(objects), sorted(problems, key=lambda p: p.key))

    def _regular(self, path: Path) -> os.stat_result:
        """The stat of the regular file ``path`` is (or links to, inside the root); else _NotRegular."""
        info = os.lstat(path)
        if stat_module.S_ISLNK(info.st_mode):
            target = Path(os.path.realpath(path))
            if not target.is_relative_to(self.root):
                raise _NotRegular(f"symbolic link to {target}, outside the landing root: not followed")
            try:
                info = os.stat(path)
            except FileNotFoundError:
                raise _NotRegular(f"dangling symbolic link (to {os.readlink(path)})") from None
            except OSError as err:
                if err.errno == errno.ELOOP:
                    raise _NotRegular("symbolic link loop") from None
                raise
        if not stat_module.S_ISREG(info.st_mode):
            raise _NotRegular(f"not a regular file ({_kind(info.st_mode)}): skipped")
        return info

    def open(self, obj: LandingObject) -> BinaryIO:
        """The file's bytes, hashed while they stream: reading past the listed size, or reaching the
        end with another MD5 than the listed version, raises FileChanged (a file written in place
        during the load is never loaded under the version listed before)."""
        return _VerifiedReader(_open_regular(self._path(obj.key)), obj, self.describe(obj.key))

    @contextlib.contextmanager
    def local_path(self, obj: LandingObject) -> Iterator[Path]:
        path = self._path(obj.key)
        yield path
        if _md5(path) != obj.version:
            raise FileChanged(_changed(self.describe(obj.key), obj))

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
        return self.scan(prefix).objects

    def scan(self, prefix: str = "") -> Listing:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._full(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        objects = []
        problems = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][strip:]
                    if key.endswith("/") or key.rsplit("/", 1)[-1].startswith("."):
                        continue
                    version, size = item["ETag"].strip('"'), int(item["Size"])
                    problem = key_problem(key)
                    if problem is not None:
                        problems.append(ListingProblem(key, problem, True, version, size))
                    else:
                        objects.append(LandingObject(key, version, size))
        except (BotoCoreError, ClientError) as err:
            raise TerraMinerError(
                f"cannot list {self.uri}/{prefix}: {err}; check AWS credentials, the bucket name and AWS_ENDPOINT_URL"
            ) from None
        return Listing(sorted(objects), sorted(problems, key=lambda p: p.key))

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


_MD5_CACHE: dict[tuple[str, int, int, int], str] = {}


def _changed(where: str, obj: LandingObject) -> str:
    return (f"{where} changed while it was being loaded (listed as version {obj.version}, {obj.size:,} bytes): "
            "nothing was loaded; the next run loads the new version")


class _VerifiedReader:
    """A local file read once, front to back, whose bytes must be exactly the listed version."""

    def __init__(self, handle: BinaryIO, obj: LandingObject, where: str):
        self._handle = handle
        self._obj = obj
        self._where = where
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if data:
            self._read += len(data)
            if self._read > self._obj.size:
                raise FileChanged(_changed(self._where, self._obj))
            self._md5.update(data)
        elif size != 0 and (self._read != self._obj.size or self._md5.hexdigest() != self._obj.version):
            raise FileChanged(_changed(self._where, self._obj))
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _NotRegular(OSError):
    """A landing entry that is not a regular file (the message says what it is)."""


def _kind(mode: int) -> str:
    for test, name in ((stat_module.S_ISFIFO, "FIFO"), (stat_module.S_ISCHR, "character device"),
                       (stat_module.S_ISBLK, "block device"), (stat_module.S_ISSOCK, "socket"),
                       (stat_module.S_ISDIR, "directory")):
        if test(mode):
            return name
    return "special file"


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; anything else (a FIFO, a device, a socket swapped in since the
    listing) raises _NotRegular without blocking: O_NONBLOCK, then fstat before the first read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat_module.S_ISREG(mode):
            raise _NotRegular(f"{path} is not a regular file ({_kind(mode)})")
        os.set_blocking(fd, True)
        return open(fd, "rb", buffering=_CHUNK)
    except BaseException:
        os.close(fd)
        raise


def _cached_md5(path: Path, info: os.stat_result) -> str:
    """MD5 of a local file, remembered per (path, inode, size, mtime) so repeated listings (sensor
    ticks, re-runs) do not re-read unchanged files."""
    key = (str(path), info.st_ino, info.st_size, info.st_mtime_ns)
    digest = _MD5_CACHE.get(key)
    if digest is None:
        digest = _md5(path)
        if len(_MD5_CACHE) > 200_000:
            _MD5_CACHE.clear()
        _MD5_CACHE[key] = digest
    return digest


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with _open_regular(path) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
