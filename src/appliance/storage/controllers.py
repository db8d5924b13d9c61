"""``/v1/objects``: the HTTP side of :class:`~appliance.storage.local.LocalObjectStore`.

Presigned local URLs land here. The routes are public (``opt={"public": True}``) because the
HMAC signature in the query string *is* the credential: it names the method, bucket, key and
expiry, and nothing else grants access. With S3 configured these routes answer 404: presigned
URLs then point at the S3 server itself.

The store is the app's ``object_store`` dependency (``server/deps.py``).
"""

from __future__ import annotations

import hashlib
from http import HTTPStatus
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, put
from litestar.response import File

from appliance.lib.di import Injected
from appliance.lib.errors import DomainError, ForbiddenError, NotFoundError, PayloadTooLargeError
from appliance.storage.base import BUCKETS, InvalidKeyError, ObjectStore
from appliance.storage.local import LocalObjectStore, SignatureError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ALLOWED_CONTENT_TYPES = frozenset({"image/jpeg", "image/png"})
PUBLIC: dict[str, Any] = {"public": True}


class UnsupportedMediaTypeError(DomainError, status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE):
    """A snapshot upload of a content type the store does not take."""


def local_store(store: ObjectStore) -> LocalObjectStore:
    if not isinstance(store, LocalObjectStore):
        raise NotFoundError("objects are served by the S3 endpoint, not by this server")
    return store


def _check(
    store: LocalObjectStore, method: str, bucket: str, key: str, request: Request[Any, Any, Any]
) -> str:
    """Verify the signature, then the bucket and key; return the key without its leading ``/``."""
    key = key.lstrip("/")
    params = request.query_params
    try:
        store.verify(method, bucket, key, params.get("expires"), params.get("signature"))
    except SignatureError as exc:
        raise ForbiddenError(str(exc)) from exc
    if bucket not in BUCKETS:
        raise NotFoundError(f"no bucket {bucket!r}")
    return key


class ObjectController(Controller):
    path = "/v1/objects"
    tags = ["objects"]
    include_in_schema = False  # reached only through presigned URLs, never built by clients

    @put("/{bucket:str}/{key:path}", opt=PUBLIC, status_code=200, request_max_body_size=MAX_UPLOAD_BYTES)
    async def upload(
        self, request: Request[Any, Any, Any], object_store: Injected[ObjectStore], bucket: str, key: str
    ) -> Response[None]:
        """Store the body (a JPEG or PNG up to 5 MiB) under a presigned PUT URL."""
        store = local_store(object_store)
        key = _check(store, "PUT", bucket, key, request)
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in ALLOWED_CONTENT_TYPES:
            raise UnsupportedMediaTypeError(
                f"Content-Type must be image/jpeg or image/png, got {media_type or 'none'!r}"
            )
        length = request.content_length
        if length is not None and length > MAX_UPLOAD_BYTES:
            raise PayloadTooLargeError(
                f"the body has {length} bytes, at most {MAX_UPLOAD_BYTES} are accepted"
            )
        body = await request.body()
        if len(body) > MAX_UPLOAD_BYTES:
            raise PayloadTooLargeError(f"the body exceeds {MAX_UPLOAD_BYTES} bytes")
        if not body:
            raise DomainError("the body is empty")
        try:
            await anyio.to_thread.run_sync(store.put, bucket, key, body, media_type)
        except InvalidKeyError as exc:
            raise NotFoundError(str(exc)) from exc
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()  # what S3 answers for one part
        return Response(None, status_code=200, headers={"ETag": f'"{etag}"'})

    @get("/{bucket:str}/{key:path}", opt=PUBLIC)
    async def download(
        self, request: Request[Any, Any, Any], object_store: Injected[ObjectStore], bucket: str, key: str
    ) -> File:
        """Stream the object under a presigned GET URL, with the content type it was stored with."""
        store = local_store(object_store)
        key = _check(store, "GET", bucket, key, request)
        try:
            path = store.path_for(bucket, key)
        except InvalidKeyError as exc:
            raise NotFoundError(str(exc)) from exc
        if not await anyio.to_thread.run_sync(path.is_file):
            raise NotFoundError(f"{bucket}/{key} does not exist")
        return File(
            path,
            filename=path.name,
            media_type=store.content_type(bucket, key),
            content_disposition_type="inline",
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"},
        )
