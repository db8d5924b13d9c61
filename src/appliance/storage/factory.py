"""Pick the object store the settings describe."""

from __future__ import annotations

from pathlib import Path

from appliance.config import Settings
from appliance.storage.base import ObjectStore
from appliance.storage.local import LocalObjectStore, load_or_create_signing_key


def object_store_from_settings(settings: Settings) -> ObjectStore:
    """S3 when ``APPLIANCE_S3_ENDPOINT`` is set, else ``<data_dir>/objects`` with URLs signed by
    ``<data_dir>/keys/object_signing.key`` (created on first use) and served under ``public_url``."""
    if settings.s3_endpoint:
        from appliance.storage.s3 import S3ObjectStore

        return S3ObjectStore.from_settings(settings)
    data_dir = Path(settings.data_dir)
    return LocalObjectStore(data_dir / "objects", settings.base_url, load_or_create_signing_key(data_dir))
