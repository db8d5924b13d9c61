"""S3-compatible object store (MinIO, SeaweedFS, AWS) through the ``minio`` client.

Raw snapshots expire twice over: the bucket lifecycle rule set by :meth:`ensure_buckets`
(enforced by the server on its own schedule) and ``appliance purge``, which also clears the
database references. Presigned URLs are signed for ``s3_public_endpoint`` when it is set (the
address edge workers and browsers reach, e.g. ``https://files.shop.example`` in front of a MinIO
the API knows as ``minio:9000``), else for ``s3_endpoint``. A SigV4 signature covers the Host
header, so the host cannot be rewritten after signing: the URLs come from a second client on the
public address. Signing makes no request, given a region (``s3_region``, default ``us-east-1``,
MinIO's own).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import MinioException, S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from appliance.storage.base import (
    BUCKETS,
    RAW_BUCKET,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStoreError,
    validate_key,
)

if TYPE_CHECKING:
    from appliance.config import Settings

RAW_EXPIRY_RULE_ID = "appliance-raw-expiry"
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})


def _http_client(secure: bool) -> urllib3.PoolManager:
    """minio's default pool, with timeouts that fail in seconds rather than five minutes."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5.0, read=60.0),
        maxsize=10,
        cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


def _split_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """``host:port`` as configured; an ``http(s)://host:port`` URL also works (its scheme wins)."""
    if "://" not in endpoint:
        return endpoint.rstrip("/"), secure
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
        raise ObjectStoreError(
            f"APPLIANCE_S3_ENDPOINT must be host:port or http(s)://host:port, got {endpoint!r}"
        )
    return parts.netloc, parts.scheme == "https"


def _client(
    configured: str, host: str, access_key: str, secret_key: str, secure: bool, region: str | None
) -> Minio:
    try:
        return Minio(
            host,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region or None,
            http_client=_http_client(secure),
        )
    except ValueError as exc:
        raise ObjectStoreError(f"invalid S3 endpoint {configured!r}: {exc}") from exc


class S3ObjectStore:
    """:class:`~appliance.storage.base.ObjectStore` on an S3 API."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool = False,
        region: str | None = None,
        public_endpoint: str | None = None,
    ) -> None:
        host, secure = _split_endpoint(endpoint, secure)
        self.endpoint = host
        self.secure = secure
        self.client = _client(endpoint, host, access_key, secret_key, secure, region)
        self.public_endpoint: str | None = None
        self._signer = self.client
        if public_endpoint:
            public_host, public_secure = _split_endpoint(public_endpoint, secure)
            self.public_endpoint = public_host
            # the region is given: otherwise the client would ask the public address for it
            self._signer = _client(
                public_endpoint, public_host, access_key, secret_key, public_secure, region or "us-east-1"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        if not settings.s3_endpoint:
            raise ObjectStoreError("APPLIANCE_S3_ENDPOINT is not set")
        if not settings.s3_access_key or not settings.s3_secret_key:
            raise ObjectStoreError(
                "APPLIANCE_S3_ACCESS_KEY and APPLIANCE_S3_SECRET_KEY are required with APPLIANCE_S3_ENDPOINT"
            )
        return cls(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region,
            public_endpoint=settings.s3_public_endpoint,
        )

    def __repr__(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"S3ObjectStore({scheme}://{self.endpoint})"

    @contextmanager
    def _errors(self, action: str, bucket: str, key: str | None = None) -> Iterator[None]:
        """Turn client, protocol and network errors into one ObjectStoreError naming the call."""
        where = f"{bucket}/{key}" if key is not None else bucket
        prefix = f"object store {self.endpoint}: {action} {where} failed"
        try:
            yield
        except ObjectStoreError:
            raise
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                raise ObjectNotFoundError(f"{prefix}: object does not exist") from exc
            raise ObjectStoreError(f"{prefix}: {exc.code}: {exc.message}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ObjectStoreError(f"{prefix}: {type(exc).__name__}: {reason}") from exc

    # -- buckets ---------------------------------------------------------------------------------

    def ensure_buckets(self, raw_retention_days: int) -> None:
        """Create both buckets if missing, put the expiry rule on faces-raw and read it back."""
        if raw_retention_days < 1:
            raise ObjectStoreError(f"raw_retention_days must be at least 1, got {raw_retention_days}")
        for bucket in BUCKETS:
            with self._errors("create bucket", bucket):
                if not self.client.bucket_exists(bucket):
                    self.client.make_bucket(bucket)
        rule = Rule(
            ENABLED,
            rule_filter=Filter(prefix=""),
            rule_id=RAW_EXPIRY_RULE_ID,
            expiration=Expiration(days=raw_retention_days),
        )
        with self._errors("set lifecycle on", RAW_BUCKET):
            self.client.set_bucket_lifecycle(RAW_BUCKET, LifecycleConfig([rule]))
        actual = self.raw_expiration_days()
        if actual != raw_retention_days:
            found = "no expiration rule" if actual is None else f"expiration after {actual} days"
            raise ObjectStoreError(
                f"object store {self.endpoint}: the lifecycle rule on {RAW_BUCKET} reads back as {found},"
                f" expected expiration after {raw_retention_days} days; the server may not support"
                " bucket lifecycle configuration (raw snapshots would then only expire through"
                " `appliance purge`)"
            )

    def raw_expiration_days(self) -> int | None:
        """Days of the enabled whole-bucket expiration rule on faces-raw; None when there is none."""
        with self._errors("read lifecycle of", RAW_BUCKET):
            config = self.client.get_bucket_lifecycle(RAW_BUCKET)
        if config is None:
            return None
        days = [
            rule.expiration.days
            for rule in config.rules
            if rule.status == ENABLED
            and rule.expiration is not None
            and rule.expiration.days is not None
            and _whole_bucket(rule)
        ]
        return min(days) if days else None

    # -- objects ---------------------------------------------------------------------------------

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "image/jpeg") -> None:
        validate_key(key)
        with self._errors("put", bucket, key):
            self.client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    def get(self, bucket: str, key: str) -> bytes:
        validate_key(key)
        with self._errors("get", bucket, key):
            response = self.client.get_object(bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def exists(self, bucket: str, key: str) -> bool:
        validate_key(key)
        try:
            with self._errors("stat", bucket, key):
                self.client.stat_object(bucket, key)
        except ObjectNotFoundError:
            return False
        return True

    def delete(self, bucket: str, key: str) -> None:
        validate_key(key)
        with self._errors("delete", bucket, key):
            self.client.remove_object(bucket, key)

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._errors("list", bucket, prefix or None):
            for obj in self.client.list_objects(bucket, prefix=prefix or None, recursive=True):
                if obj.is_dir or obj.object_name is None or obj.last_modified is None:
                    continue
                yield ObjectInfo(key=obj.object_name, size=obj.size or 0, last_modified=obj.last_modified)

    def presign_put(self, bucket: str, key: str, expires: timedelta) -> str:
        validate_key(key)
        with self._errors("presign PUT for", bucket, key):
            return self._signer.presigned_put_object(bucket, key, expires=expires)

    def presign_get(self, bucket: str, key: str, expires: timedelta) -> str:
        validate_key(key)
        with self._errors("presign GET for", bucket, key):
            return self._signer.presigned_get_object(bucket, key, expires=expires)


def _whole_bucket(rule: Rule) -> bool:
    """A rule without a prefix/tag restriction (the only kind that expires every raw snapshot)."""
    flt = rule.rule_filter
    if flt is None:
        return True
    return not flt.prefix and flt.tag is None and flt.and_operator is None
