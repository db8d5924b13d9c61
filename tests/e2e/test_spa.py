"""appliance.server.spa: the built dashboard at / with SPA fallback, cache headers, gzip; the API
paths stay the API's. A throwaway build in a temp folder stands in for `make web`'s output."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from appliance.domain.auth.guards import authorize
from appliance.server import spa
from appliance.server.app import openapi_config
from appliance.server.problems import EXCEPTION_HANDLERS

INDEX = "<!doctype html><title>Footfall</title><script type=module src=/assets/index-abc123.js></script>"


@get("/v1/ping", opt={"public": True})
async def ping() -> dict[str, str]:
    return {"pong": "yes"}


@get("/healthz", opt={"public": True})
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _app() -> Litestar:
    # The real app's deny-by-default guard: the SPA routes must declare themselves public.
    return Litestar(
        route_handlers=[ping, healthz, *spa.SPA_ROUTES],
        guards=[authorize],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi_config(),  # /schema public, as in the real app
    )


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "static"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-abc123.js").write_text("console.log('app')")
    (root / "assets" / "index-abc123.js.gz").write_bytes(gzip.compress(b"console.log('app')"))
    (root / "assets" / "index-def456.css").write_text("body{}")
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("outside the build")
    monkeypatch.setattr(spa, "static_root", lambda: root)
    return root


@pytest.fixture
def client(build: Path) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=_app()) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "path", ["/", "/reports", "/customers/6f1c0b5e-9a52-4f43-8d8b-3e7d0a6b2c11", "/index.html"]
)
def test_client_routes_get_index_html_without_caching(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_hashed_assets_are_immutable_and_gzipped_when_accepted(client: TestClient[Litestar]) -> None:
    plain = client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.text == "console.log('app')"
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "content-encoding" not in plain.headers
    zipped = client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.text == "console.log('app')"  # the client decodes it
    refused = client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    css = client.get("/assets/index-def456.css")
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"].endswith("immutable")


def test_root_files_get_a_short_cache(client: TestClient[Litestar]) -> None:
    response = client.get("/favicon.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cache-control"] == "public, max-age=3600"


@pytest.mark.parametrize(
    ("path", "media_type", "cache"),
    [
        ("/", "text/html; charset=utf-8", "no-cache"),
        ("/reports", "text/html; charset=utf-8", "no-cache"),
        ("/assets/index-abc123.js", "text/javascript", "public, max-age=31536000, immutable"),
        ("/favicon.svg", "image/svg+xml", "public, max-age=3600"),
    ],
)
def test_head_answers_the_get_headers_without_a_body(
    client: TestClient[Litestar], path: str, media_type: str, cache: str
) -> None:
    response = client.head(path, headers={"Accept-Encoding": "identity"})
    got = client.get(path, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"].startswith(media_type)
    assert response.headers["cache-control"] == cache
    assert response.headers["content-length"] == str(len(got.content))


def test_head_of_a_missing_file_or_unbuilt_dashboard_is_404(
    client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.head("/assets/index-old999.js").status_code == 404
    monkeypatch.setattr(spa, "static_root", lambda: None)
    assert client.head("/reports").status_code == 404


@pytest.mark.parametrize(
    "path", ["/assets/index-old999.js", "/assets/nested/missing.css", "/robots.txt", "/img/logo.png"]
)
def test_missing_files_are_404_never_index_html(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "path",
    ["/v1/nothing-here", "/v1", "/schema/nope", "/metrics/x", "/healthz/x", "/readyz", "/.well-known/x"],
)
def test_api_paths_keep_the_api_404(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.text != INDEX
    if not path.startswith("/schema"):  # Litestar's docs router answers its own 404 page
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404


def test_api_routes_still_answer(client: TestClient[Litestar]) -> None:
    assert client.get("/v1/ping").json() == {"pong": "yes"}
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "path", ["/assets/..%2F..%2Fsecret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%5csecret.txt"]
)
def test_no_way_out_of_the_build_folder(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path)
    assert "outside the build" not in response.text


def test_resolve_file_rejects_traversal(build: Path) -> None:
    assert (
        spa.resolve_file(build, "assets/index-abc123.js") == (build / "assets" / "index-abc123.js").resolve()
    )
    assert spa.resolve_file(build, "../secret.txt") is None
    assert spa.resolve_file(build, "assets/../../secret.txt") is None
    assert spa.resolve_file(build, "assets") is None  # a folder is not a file
    assert spa.resolve_file(build, "a\\..\\secret.txt") is None


def test_without_a_build_the_dashboard_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spa, "static_root", lambda: None)
    with TestClient(app=_app()) as client:
        page = client.get("/reports")
        assert page.status_code == 404
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "make web" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert client.get("/assets/index-abc123.js").headers["content-type"] == "application/problem+json"
        assert client.get("/v1/ping").status_code == 200


def test_static_root_finds_the_package_folder() -> None:
    root = spa.static_root()
    if root is not None:  # built (make web)
        assert root.name == "static"
        assert (root / "index.html").is_file()
        assert root.parent.name == "appliance"


def test_spa_routes_are_not_in_the_openapi_document() -> None:
    schema = _app().openapi_schema.to_schema()
    assert set(schema["paths"]) == {"/v1/ping", "/healthz"}
