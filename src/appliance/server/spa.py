"""The dashboard: the prebuilt SPA in ``appliance/static`` (``make web``) served at ``/``.

* ``/assets/<name>-<hash>.<ext>``: the content-hashed bundles, cached for a year (``immutable``).
  A missing asset is a 404 — never ``index.html``, which a browser would try to run as script.
* Files at the root of the build (``favicon.svg``, ``robots.txt``): cached for an hour.
* Any other GET path (``/reports``, ``/customers/…``): ``index.html`` with ``no-cache``, so the
  client-side router takes over and a new build is picked up on the next load.
* ``/v1``, ``/schema``, ``/metrics``, ``/healthz``, ``/readyz`` and ``/.well-known`` stay the
  API's: an unknown path under them is the API's problem+json 404, not the dashboard.
* Without a build (a source checkout before ``make web``) the dashboard paths answer a 404 page
  that says how to build it; the API is unaffected.

A ``<file>.gz`` next to a file (the build writes them) is sent instead when the browser accepts
gzip. The folder is found with :mod:`importlib.resources`, so it works from a source checkout,
an installed wheel and a frozen single binary alike.
"""

from __future__ import annotations

import mimetypes
from importlib import resources
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get, head
from litestar.exceptions import NotFoundException
from litestar.response import File

API_PREFIXES = frozenset({"v1", "schema", "metrics", "healthz", "readyz", ".well-known"})
ASSETS_DIR = "assets"
IMMUTABLE = "public, max-age=31536000, immutable"
ROOT_FILE_CACHE = "public, max-age=3600"
INDEX = "index.html"

# The page is served by this process, its API calls go to this process, and snapshots come either
# from this process (local object store) or from the configured S3 endpoint (any origin).
# Ant Design injects its CSS-in-JS as <style> elements, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob: http: https:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
DOCUMENT_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dashboard not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2937}
code{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>The dashboard has not been built</h1>
<p>This server answers the API under <code>/v1</code> (documentation at <a href="/schema">/schema</a>),
but the browser dashboard is missing from <code>appliance/static</code>.</p>
<p>Build it from a source checkout with <code>make web</code> (needs Node.js; only at build time),
then restart <code>appliance serve</code>.</p></body></html>
"""

# Litestar adds "; charset=utf-8" to text/* media types itself.
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".txt": "text/plain",
}


def static_root() -> Path | None:
    """The built SPA folder, or None when there is no ``index.html`` in it."""
    try:
        traversable = resources.files("appliance").joinpath("static")
    except ModuleNotFoundError:  # pragma: no cover - the package is always importable here
        return None
    # The package is a plain directory in a checkout, a wheel install and a PyInstaller bundle.
    root = Path(str(traversable))
    return root if (root / INDEX).is_file() else None


def media_type_for(path: Path) -> str:
    return _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def resolve_file(root: Path, relative: str) -> Path | None:
    """The regular file ``relative`` inside ``root``; None for anything escaping it or missing."""
    parts = [p for p in relative.split("/") if p]
    if any(p in {".", ".."} or "\\" in p or "\x00" in p for p in parts):
        return None
    candidate = root.joinpath(*parts)
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
        return None
    return resolved


def _accepts_gzip(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept-encoding", "")
    for item in accept.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


def _file(request: Request[Any, Any, Any], path: Path, headers: dict[str, str]) -> File:
    headers = {**headers, "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding"}
    media_type = media_type_for(path)
    compressed = path.with_name(path.name + ".gz")
    if _accepts_gzip(request) and compressed.is_file():
        headers["Content-Encoding"] = "gzip"
        path = compressed
    return File(path, media_type=media_type, content_disposition_type="inline", headers=headers)


def _not_built() -> Response[str]:
    return Response(
        NOT_BUILT_PAGE,
        status_code=404,
        media_type="text/html",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


class SpaController(Controller):
    """The dashboard's static files and client-side routes; registered after the API."""

    path = "/"
    opt = {"public": True}
    include_in_schema = False

    @get(["/", "/{path:path}"], name="spa", opt={"public": True}, include_in_schema=False)
    async def spa(self, request: Request[Any, Any, Any], path: str = "") -> Response[str] | File:
        return _answer(request, path)

    @head(["/", "/{path:path}"], name="spa-head", opt={"public": True}, include_in_schema=False)
    async def spa_head(self, request: Request[Any, Any, Any], path: str = "") -> File:
        """The GET answer's headers without its body (uptime checks and proxies probe with HEAD)."""
        answer = _answer(request, path)
        if not isinstance(answer, File):
            raise NotFoundException("the dashboard has not been built (make web)")
        return answer


def _answer(request: Request[Any, Any, Any], path: str) -> Response[str] | File:
    """A built file, ``index.html`` for a client-side route, or why there is neither."""
    relative = path.lstrip("/")
    first = relative.split("/", 1)[0]
    if first in API_PREFIXES:
        raise NotFoundException(f"no route for {request.url.path}")
    root = static_root()
    if root is None:
        if first == ASSETS_DIR:
            raise NotFoundException("the dashboard has not been built (make web)")
        return _not_built()
    if relative and relative != INDEX:
        found = resolve_file(root, relative)
        if found is not None:
            cache = IMMUTABLE if first == ASSETS_DIR else ROOT_FILE_CACHE
            return _file(request, found, {"Cache-Control": cache})
        last = relative.rsplit("/", 1)[-1]
        if first == ASSETS_DIR or "." in last:
            # A stale or mistyped file name: answering index.html would hide the error.
            raise NotFoundException(f"{request.url.path} does not exist")
    return _file(request, root / INDEX, DOCUMENT_HEADERS)


SPA_ROUTES = [SpaController]
