"""A directory as the object store, for a single box without S3.

Layout: ``<root>/<bucket>/<key>`` holds the bytes, ``<root>/.meta/<bucket>/<key>`` the content
type, ``<root>/.tmp`` the half-written uploads (renamed into place, so a reader never sees a
partial object). ``root`` is ``<data_dir>/objects``.

Presigned URLs point at this server's ``/v1/objects`` routes
(:class:`~appliance.storage.controllers.ObjectController`)::

    {base_url}/v1/objects/{bucket}/{key}?expires=<unix seconds>&signature=<hex>

where ``signature = HMAC-SHA256(signing_key, "METHOD|bucket|key|expires")``. The signature is
the credential: it binds the method, the object and the expiry, nothing else grants access.

Lifecycle rules are an S3 feature: this store cannot expire objects by itself.
:meth:`ensure_buckets` only creates the directories, :meth:`raw_expiration_days` is ``None``,
and raw snapshots expire solely through ``appliance purge`` (run it daily, by cron or the
built-in scheduler), which also clears the database references to them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

from appliance.storage.base import (
    BUCKETS,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStoreError,
    validate_bucket,
    validate_key,
)

DEFAULT_CONTENT_TYPE = "application/octet-stream"
META_DIR = ".meta"
TMP_DIR = ".tmp"
MAX_PRESIGN = timedelta(days=7)
"""Same ceiling as S3 SigV4 presigned URLs."""


class SignatureError(ObjectStoreError):
    """A presigned local URL that is malformed, tampered with or expired."""


class LocalObjectStore:
    """:class:`~appliance.storage.base.ObjectStore` on a directory, with HMAC-signed URLs."""

    def __init__(
        self,
        root_dir: str | Path,
        base_url: str,
        signing_key: bytes,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(signing_key) < 32:
            raise ObjectStoreError("the object signing key must be at least 32 bytes")
        self.root = Path(root_dir)
        self.base_url = base_url.rstrip("/")
        self._signing_key = signing_key
        self._clock = clock

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    # -- paths -----------------------------------------------------------------------------------

    def path_for(self, bucket: str, key: str) -> Path:
        """The file holding ``bucket/key`` (validated: always inside the bucket directory)."""
        return self.root / validate_bucket(bucket) / validate_key(key)

    def _meta_path(self, bucket: str, key: str) -> Path:
        return self.root / META_DIR / validate_bucket(bucket) / validate_key(key)

    # -- buckets ---------------------------------------------------------------------------------

    def ensure_buckets(self, raw_retention_days: int) -> None:
        """Create the bucket directories. No lifecycle rule exists here: ``appliance purge``
        is what expires raw snapshots after ``raw_retention_days``."""
        try:
            for bucket in BUCKETS:
                (self.root / bucket).mkdir(parents=True, exist_ok=True)
            (self.root / TMP_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ObjectStoreError(f"cannot create the object directories under {self.root}: {exc}") from exc

    def raw_expiration_days(self) -> int | None:
        return None

    # -- objects ---------------------------------------------------------------------------------

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "image/jpeg") -> None:
        path = self.path_for(bucket, key)
        meta = self._meta_path(bucket, key)
        tmp_dir = self.root / TMP_DIR
        try:
            for directory in (path.parent, meta.parent, tmp_dir):
                directory.mkdir(parents=True, exist_ok=True)
            tmp = tmp_dir / f"{secrets.token_hex(8)}.part"
            tmp_meta = tmp_dir / f"{secrets.token_hex(8)}.meta"
            tmp.write_bytes(data)
            tmp_meta.write_text(content_type)
            os.replace(tmp_meta, meta)
            os.replace(tmp, path)
        except OSError as exc:
            raise ObjectStoreError(f"local object store: put {bucket}/{key} failed: {exc}") from exc

    def get(self, bucket: str, key: str) -> bytes:
        path = self.path_for(bucket, key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFoundError(f"local object store: {bucket}/{key} does not exist") from exc
        except OSError as exc:
            raise ObjectStoreError(f"local object store: get {bucket}/{key} failed: {exc}") from exc

    def content_type(self, bucket: str, key: str) -> str:
        try:
            return self._meta_path(bucket, key).read_text().strip() or DEFAULT_CONTENT_TYPE
        except OSError:
            return DEFAULT_CONTENT_TYPE

    def exists(self, bucket: str, key: str) -> bool:
        return self.path_for(bucket, key).is_file()

    def delete(self, bucket: str, key: str) -> None:
        path = self.path_for(bucket, key)
        try:
            path.unlink(missing_ok=True)
            self._meta_path(bucket, key).unlink(missing_ok=True)
        except IsADirectoryError:
            return  # a "directory" key is not an object: nothing to delete
        except OSError as exc:
            raise ObjectStoreError(f"local object store: delete {bucket}/{key} failed: {exc}") from exc
        self._prune_empty_dirs(path.parent, self.root / bucket)

    @staticmethod
    def _prune_empty_dirs(directory: Path, stop: Path) -> None:
        while directory != stop and stop in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return  # not empty (or raced with a put): keep it
            directory = directory.parent

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under ``prefix`` (directory by directory, names sorted)."""
        base = self.root / validate_bucket(bucket)
        start = base
        if "/" in prefix:  # walk only the prefix's directory, not the whole bucket
            start = base / validate_key(prefix.rsplit("/", 1)[0])
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                key = path.relative_to(base).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue  # deleted while listing
                yield ObjectInfo(
                    key=key, size=stat.st_size, last_modified=datetime.fromtimestamp(stat.st_mtime, UTC)
                )

    # -- presigned URLs --------------------------------------------------------------------------

    def _signature(self, method: str, bucket: str, key: str, expires: int) -> str:
        message = f"{method.upper()}|{bucket}|{key}|{expires}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def presign(self, method: str, bucket: str, key: str, expires: timedelta) -> str:
        validate_bucket(bucket)
        validate_key(key)
        if not timedelta(seconds=1) <= expires <= MAX_PRESIGN:
            raise ObjectStoreError(
                f"presigned URL lifetime must be between 1 second and 7 days, got {expires}"
            )
        expires_at = int(self._clock() + expires.total_seconds())
        query = urlencode(
            {"expires": expires_at, "signature": self._signature(method, bucket, key, expires_at)}
        )
        return f"{self.base_url}/v1/objects/{bucket}/{quote(key)}?{query}"

    def presign_put(self, bucket: str, key: str, expires: timedelta) -> str:
        return self.presign("PUT", bucket, key, expires)

    def presign_get(self, bucket: str, key: str, expires: timedelta) -> str:
        return self.presign("GET", bucket, key, expires)

    def verify(self, method: str, bucket: str, key: str, expires: str | None, signature: str | None) -> None:
        """Raise :class:`SignatureError` unless ``signature`` is valid and unexpired for this call."""
        if not expires or not signature:
            raise SignatureError("the URL carries no expires/signature: request a presigned URL")
        try:
            expires_at = int(expires)
        except ValueError as exc:
            raise SignatureError("the URL's expires parameter is not a unix timestamp") from exc
        expected = self._signature(method, bucket, key, expires_at)
        if not hmac.compare_digest(expected, signature.lower()):
            raise SignatureError("the URL signature does not match this request")
        if expires_at < self._clock():
            raise SignatureError("the presigned URL has expired")


def load_or_create_signing_key(data_dir: str | Path) -> bytes:
    """``<data_dir>/keys/object_signing.key``: 32 random bytes, mode 0600, created on first use."""
    path = Path(data_dir) / "keys" / "object_signing.key"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
            try:
                os.link(tmp, path)  # atomic and never overwrites: concurrent first starts agree
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        key = path.read_bytes()
    except OSError as exc:
        raise ObjectStoreError(f"cannot read or create the object signing key {path}: {exc}") from exc
    if len(key) < 32:
        raise ObjectStoreError(
            f"the object signing key {path} has {len(key)} bytes, expected 32:"
            " delete it to generate a new one (outstanding presigned URLs become invalid)"
        )
    return key
