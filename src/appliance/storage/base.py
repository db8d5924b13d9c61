"""The object store protocol. Raw face snapshots live in ``faces-raw`` (30-day expiry),
derived artefacts (thumbnails, staff photos) in ``faces-derived``.

Two implementations: :class:`~appliance.storage.s3.S3ObjectStore` (MinIO/SeaweedFS/S3; the
expiry is a bucket lifecycle rule *and* ``appliance purge``) and
:class:`~appliance.storage.local.LocalObjectStore` (a directory; expiry is ``appliance purge``
only). Both accept the same keys (:func:`validate_key`) and raise :class:`ObjectStoreError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Protocol

import msgspec

RAW_BUCKET = "faces-raw"
DERIVED_BUCKET = "faces-derived"
BUCKETS = (RAW_BUCKET, DERIVED_BUCKET)

KEY_MAX_LENGTH = 512
"""Same as ``sightings.image_path`` / ``visits.best_snapshot_key``."""
_KEY_CHARS = re.compile(r"[A-Za-z0-9/_.\-]+")


class ObjectStoreError(Exception):
    """The object store refused or failed an operation; the message says which and why."""


class ObjectNotFoundError(ObjectStoreError):
    pass


class InvalidKeyError(ObjectStoreError, ValueError):
    pass


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise :class:`InvalidKeyError`.

    Safe: 1..512 characters of ``[A-Za-z0-9/_.-]``, relative (no leading ``/``), no ``..``
    anywhere, no empty or ``.`` path segments, no trailing ``/``. The local store maps keys to
    files, so this is what keeps a key inside its bucket directory.
    """
    if not key:
        raise InvalidKeyError("object key is empty")
    if len(key) > KEY_MAX_LENGTH:
        raise InvalidKeyError(f"object key is longer than {KEY_MAX_LENGTH} characters")
    if not _KEY_CHARS.fullmatch(key):
        raise InvalidKeyError(f"object key {key[:80]!r} may contain only A-Z a-z 0-9 / _ . -")
    if key.startswith("/"):
        raise InvalidKeyError(f"object key {key[:80]!r} must be relative (no leading /)")
    if ".." in key:
        raise InvalidKeyError(f"object key {key[:80]!r} must not contain '..'")
    if any(part in ("", ".") for part in key.split("/")):
        raise InvalidKeyError(f"object key {key[:80]!r} has an empty or '.' path segment")
    return key


def validate_bucket(bucket: str) -> str:
    if bucket not in BUCKETS:
        raise InvalidKeyError(f"unknown bucket {bucket[:80]!r} (expected one of {', '.join(BUCKETS)})")
    return bucket


class ObjectInfo(msgspec.Struct, frozen=True):
    key: str
    size: int
    last_modified: datetime


class ObjectStore(Protocol):
    def ensure_buckets(self, raw_retention_days: int) -> None:
        """Create both buckets and set/verify the expiration rule on the raw one."""

    def raw_expiration_days(self) -> int | None:
        """Days after which the store itself expires raw objects; ``None`` when it does not."""

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "image/jpeg") -> None: ...

    def get(self, bucket: str, key: str) -> bytes:
        """The object's bytes; :class:`ObjectNotFoundError` when it does not exist."""

    def exists(self, bucket: str, key: str) -> bool: ...

    def delete(self, bucket: str, key: str) -> None:
        """Remove the object; deleting a missing object is not an error."""

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def presign_put(self, bucket: str, key: str, expires: timedelta) -> str: ...

    def presign_get(self, bucket: str, key: str, expires: timedelta) -> str: ...
