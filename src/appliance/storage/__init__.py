"""Object store behind a small protocol: S3 (minio client) or a local directory."""

from appliance.storage.base import (
    BUCKETS,
    DERIVED_BUCKET,
    RAW_BUCKET,
    InvalidKeyError,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
)

__all__ = [
    "BUCKETS",
    "DERIVED_BUCKET",
    "RAW_BUCKET",
    "InvalidKeyError",
    "ObjectInfo",
    "ObjectNotFoundError",
    "ObjectStore",
    "ObjectStoreError",
]
