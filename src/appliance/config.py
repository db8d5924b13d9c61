"""One typed settings object, read from ``APPLIANCE_*`` environment variables.

Defaults work on a single box: a local PostgreSQL, a data dir under ``./data``.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec

ENV_PREFIX = "APPLIANCE_"
StructT = TypeVar("StructT", bound=msgspec.Struct)
DEFAULT_EMBEDDER = "face_recognition_sface_2021dec.onnx"
"""The embedder pack of ``appliance.vision.models.MANIFEST`` that ships (a unit test keeps them
equal; the manifest module is not imported here: it loads an HTTP client)."""
SECRET_FIELDS = frozenset(
    {
        "database_url",
        "app_database_url",
        "app_database_password",
        "jwt_private_key",
        "milvus_token",
        "s3_access_key",
        "s3_secret_key",
    }
)


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    database_url: str = "postgresql://postgres@127.0.0.1:5432/appliance"
    """Owner connection: used by ``migrate`` and ``admin`` only."""
    app_database_url: str | None = None
    """Runtime (non-owner) connection; derived from ``database_url`` when unset."""
    app_role: str = "appliance_app"
    app_database_password: str | None = None
    data_dir: str = "data"
    host: str = "127.0.0.1"
    port: int = 8080
    jwt_ttl_seconds: int = 900
    jwt_issuer: str = "appliance"
    jwt_audience: str = "appliance-api"
    jwt_private_key: str | None = None
    """PEM of an RSA private key; generated into the data dir when unset."""
    session_idle_seconds: Annotated[int, msgspec.Meta(gt=0)] = 7 * 24 * 3600
    """A browser session (refresh cookie) unused this long ends (ADR 0003)."""
    session_max_seconds: Annotated[int, msgspec.Meta(gt=0)] = 30 * 24 * 3600
    """A browser session ends this long after sign-in, however often it is refreshed."""
    rate_limit_auth_per_minute: Annotated[int, msgspec.Meta(ge=0)] = 60
    """Token requests per client address and API process; 0 switches the limit off."""
    rate_limit_ingest_per_second: Annotated[int, msgspec.Meta(ge=0)] = 50
    """Ingest requests per client address and API process; 0 switches the limit off."""
    trusted_proxies: str = ""
    """Comma-separated addresses/CIDRs of reverse proxies whose ``X-Forwarded-For`` names the
    client (for the rate limits); empty: the header is ignored, the peer address counts."""
    db_pool_size: int = 20
    """Connections kept per API process; as many again may open under bursts. Below the number
    of requests in flight, the extra connections open and close per request (a new PostgreSQL
    backend each time)."""
    log_level: str = "INFO"
    log_json: bool = True

    # -- recognition -----------------------------------------------------------------------
    models_dir: str = "models"
    embedder: str = DEFAULT_EMBEDDER
    """Model file in the models dir; the embedding dimension is read from it. Default: the
    embedder the model manifest ships (never the test-only stand-in, which tests name explicitly)."""
    embedding_dim: int | None = None
    """Overrides the dimension read from the embedder (needed only without the model file)."""
    match_threshold: float = 0.40
    """Cosine similarity at/above which a face is the same customer (see docs/calibration.md)."""
    uncertain_threshold: float = 0.30
    """Between this and match_threshold: a new customer + a merge suggestion with the best
    candidate (never assigned to it: ADR 0010)."""
    staff_threshold: float = 0.40
    max_exemplars: int = 5
    exemplar_diversity: float = 0.85
    """A new exemplar is kept only if its similarity to every kept one is below this."""

    # -- vector index ----------------------------------------------------------------------
    vector_cache_mb: Annotated[int, msgspec.Meta(gt=0)] = 1024
    """Memory budget of the embedded index in each API process (ADR 0013 gives the bytes per
    exemplar): tenants used least recently are dropped past it and loaded again at their next face."""
    milvus_uri: str | None = None
    """``http://host:19530`` for a Milvus server (scale-out); unset → the embedded exact index."""
    milvus_token: str | None = None
    milvus_collection: str = "face_embeddings"
    milvus_index_type: str = "IVF_FLAT"
    """IVF_FLAT (``milvus_nlist``/``milvus_nprobe``), HNSW (``milvus_hnsw_m``/``milvus_hnsw_ef``)
    or FLAT; used when the collection is created (``appliance reindex`` rebuilds it)."""
    milvus_nlist: int = 128
    milvus_nprobe: int = 32
    milvus_hnsw_m: int = 16
    milvus_hnsw_ef: int = 64
    milvus_sync_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    """How often the Milvus index applies the exemplar changes past its watermark."""

    # -- object store ----------------------------------------------------------------------
    s3_endpoint: str | None = None
    """``host:port`` of MinIO/S3; unset → a local directory under the data dir."""
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_secure: bool = False
    s3_region: str | None = None
    s3_public_endpoint: str | None = None
    """The object store's address as edge workers and browsers reach it, when it differs from
    ``s3_endpoint`` (a reverse proxy, a container network name): presigned URLs name this host.
    They are signed for ``s3_region``, ``us-east-1`` when unset (MinIO's): set it for another."""
    public_url: str | None = None
    """Base URL clients use to reach this server (presigned local-store URLs); default http://host:port."""
    raw_retention_days: int = 30
    presign_seconds: int = 900

    # -- input bounds (issue 18) -----------------------------------------------------------
    captured_at_max_age_seconds: Annotated[int, msgspec.Meta(gt=0)] = 7 * 24 * 3600
    """An event's ``captured_at`` may lie this far before the server's clock (an edge that was
    offline longer sends older events, which are refused with 422)."""
    captured_at_max_skew_seconds: Annotated[int, msgspec.Meta(ge=0)] = 300
    """…and this far after it (clock skew between the edge and the server)."""
    staff_photo_max_bytes: Annotated[int, msgspec.Meta(gt=0)] = 8 * 1024 * 1024
    """Largest staff photo upload (413 beyond)."""
    staff_photo_max_pixels: Annotated[int, msgspec.Meta(gt=0)] = 4096 * 4096
    """Largest staff photo in pixels (width x height, read from the image header before any
    decoding; 422 beyond): decoding costs memory by pixels, not by bytes."""

    # -- jobs ------------------------------------------------------------------------------
    scheduler: bool = True
    """Run the background jobs (purge, staff refresh, index flush) in this process's leader."""

    @property
    def runtime_database_url(self) -> str:
        """The URL the API runs on: the non-owner role, so RLS always applies."""
        if self.app_database_url:
            return self.app_database_url
        parts = urlsplit(self.database_url)
        host = parts.hostname or "127.0.0.1"
        netloc = self.app_role
        if self.app_database_password:
            netloc += f":{self.app_database_password}"
        netloc += f"@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def database_name(self) -> str:
        return urlsplit(self.database_url).path.lstrip("/") or "postgres"

    def masked(self) -> dict[str, Any]:
        """Settings as a dict with secrets (passwords in URLs, keys) masked."""
        out: dict[str, Any] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name in SECRET_FIELDS and value:
                value = mask_url(value) if "url" in name else "****"
            elif isinstance(value, str) and "://" in value:
                value = mask_url(value)  # any URL may carry credentials (a Milvus URI …)
            out[name] = value
        out["runtime_database_url"] = mask_url(self.runtime_database_url)
        return out


_SECRET_QUERY = ("password", "passwd", "pwd", "secret", "token", "key", "credential", "signature")


def mask_url(url: str) -> str:
    """The URL with its credentials masked: the password (or a bare user token) of the
    authority, and query values whose name says they are secret."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not parseable as a URL: show nothing of it
        return "****"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0] if password is not None else "****"
        netloc = f"{user}:****@{host}" if password is not None else f"{user}@{host}"
    query = "&".join(
        f"{name}=****" if any(word in name.lower() for word in _SECRET_QUERY) else f"{name}{sep}{value}"
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment; a bad value raises ``ConfigError`` naming the variable."""
    return from_environment(Settings, env, overrides)


def from_environment(
    kind: type[StructT], env: dict[str, str] | None, overrides: dict[str, Any], what: str = "configuration"
) -> StructT:
    """``kind`` from the ``APPLIANCE_<FIELD>`` variables of ``env`` (default: the process's), then
    ``overrides`` by field name; a bad value raises ``ConfigError`` naming what to fix."""
    source = os.environ if env is None else env
    raw: dict[str, Any] = {}
    for name in kind.__struct_fields__:
        key = ENV_PREFIX + name.upper()
        if key in source:
            raw[name] = source[key]
    raw.update(overrides)
    try:
        return msgspec.convert(raw, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(config_error(str(exc), raw, set(overrides), what)) from exc


def config_error(message: str, raw: dict[str, Any], overridden: set[str], what: str = "configuration") -> str:
    """msgspec says ``… - at `$.port```: name the variable an operator sets (``APPLIANCE_PORT``)."""
    found = re.search(r"\s*-\s*at `\$\.(\w+)`", message)
    if found is None:
        return f"invalid {what}: {message} (environment variables {ENV_PREFIX}*)"
    field = found.group(1)
    reason = message[: found.start()] + message[found.end() :]
    where = f"setting {field}" if field in overridden else ENV_PREFIX + field.upper()
    return f"invalid {what}: {where}={raw.get(field)!r}: {reason}"


class ConfigError(ValueError):
    pass
