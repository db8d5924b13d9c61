"""Generate the Postman collection and environment from ``docs/openapi.json``.

    python -m tests.deploy.postman          # rewrite docs/postman/*.json
    python -m tests.deploy.postman --check  # exit 1 when they are stale

One folder per OpenAPI tag, one request per operation (path parameters as Postman variables,
query parameters listed but disabled, JSON bodies filled from the schemas). The collection signs
every request with ``{{accessToken}}``; its pre-request script fetches a token from
``/v1/auth/token`` (password grant, or the API-key grant when ``apiKey`` is set) when there is
none or it is about to expire. Deterministic: same OpenAPI document, same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "docs" / "openapi.json"
OUT_DIR = ROOT / "docs" / "postman"
COLLECTION = OUT_DIR / "appliance.postman_collection.json"
ENVIRONMENT = OUT_DIR / "appliance.postman_environment.json"
SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
NAMESPACE = uuid.UUID("7b0f5d6e-2c1a-4e53-9a51-3a0f2f6d9c11")
METHODS = ("get", "post", "put", "patch", "delete")
TOKEN_PATH = "/v1/auth/token"

TOKEN_SCRIPT = [
    "// Fetch a bearer token when there is none or it expires within 30 s (set by the generator).",
    "const base = pm.variables.get('baseUrl');",
    "const token = pm.environment.get('accessToken');",
    "const expiresAt = Number(pm.environment.get('accessTokenExpiresAt') || 0);",
    "if (pm.request.auth && pm.request.auth.type === 'noauth') { return; }",
    "if (token && Date.now() < expiresAt - 30000) { return; }",
    "const apiKey = pm.variables.get('apiKey');",
    "const grant = apiKey",
    "  ? { grant_type: 'api_key', api_key: apiKey }",
    "  : { grant_type: 'password', username: pm.variables.get('username'),"
    " password: pm.variables.get('password') };",
    "pm.sendRequest({",
    "  url: base + '" + TOKEN_PATH + "',",
    "  method: 'POST',",
    "  header: { 'Content-Type': 'application/json' },",
    "  body: { mode: 'raw', raw: JSON.stringify(grant) },",
    "}, (err, res) => {",
    "  if (err || res.code !== 200) { console.error('token request failed', err || res.text()); return; }",
    "  const body = res.json();",
    "  pm.environment.set('accessToken', body.access_token);",
    "  pm.environment.set('accessTokenExpiresAt', String(Date.now() + body.expires_in * 1000));",
    "});",
]
SAVE_TOKEN_TEST = [
    "pm.test('token issued', () => pm.response.to.have.status(200));",
    "const body = pm.response.json();",
    "pm.environment.set('accessToken', body.access_token);",
    "pm.environment.set('accessTokenExpiresAt', String(Date.now() + body.expires_in * 1000));",
]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def example(doc: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value for a JSON Schema: example/default/const/enum first, then by type."""
    schema = _resolve(doc, schema)
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(doc, s).get("type") != "null"]
            return example(doc, options[0] if options else schema[key][0], depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example(doc, part, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        props = schema.get("properties", {})
        required = schema.get("required", list(props))
        return {name: example(doc, props[name], depth + 1) for name in props if name in required}
    if kind == "array":
        return [] if depth > 4 else [example(doc, schema.get("items", {}), depth + 1)]
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    fmt = schema.get("format")
    return {
        "uuid": "00000000-0000-0000-0000-000000000000",
        "date-time": "2025-01-01T00:00:00Z",
        "date": "2025-01-01",
        "email": "someone@example.com",
        "uri": "https://example.com",
    }.get(fmt or "", "string")


def _url(path: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    segments = [
        (":" + s[1:-1]) if s.startswith("{") and s.endswith("}") else s for s in path.strip("/").split("/")
    ]
    query = [
        {
            "key": p["name"],
            "value": "",
            "description": p.get("description", ""),
            "disabled": True,
        }
        for p in params
        if p.get("in") == "query"
    ]
    variables = [
        {"key": p["name"], "value": "", "description": p.get("description", "")}
        for p in params
        if p.get("in") == "path"
    ]
    raw = "{{baseUrl}}/" + "/".join(segments)
    if query:
        raw += "?" + "&".join(f"{q['key']}=" for q in query)
    url: dict[str, Any] = {"raw": raw, "host": ["{{baseUrl}}"], "path": segments}
    if query:
        url["query"] = query
    if variables:
        url["variable"] = variables
    return url


def _body(doc: dict[str, Any], path: str, operation: dict[str, Any]) -> dict[str, Any] | None:
    if path == TOKEN_PATH:
        grant = {"grant_type": "password", "username": "{{username}}", "password": "{{password}}"}
        return {"mode": "raw", "raw": json.dumps(grant, indent=2), "options": {"raw": {"language": "json"}}}
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        value = example(doc, content["application/json"].get("schema", {}))
        return {"mode": "raw", "raw": json.dumps(value, indent=2), "options": {"raw": {"language": "json"}}}
    if content:  # binary uploads (staff photos): pick a file in Postman
        return {"mode": "file", "file": {}}
    return None


def _is_public(doc: dict[str, Any], operation: dict[str, Any]) -> bool:
    security = operation.get("security", doc.get("security", []))
    return security == [] or security == [{}]


def build(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    folders: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(doc["paths"]):
        for method in METHODS:
            operation = doc["paths"][path].get(method)
            if operation is None:
                continue
            op_id = operation.get("operationId", f"{method} {path}")
            public = path == TOKEN_PATH or not path.startswith("/v1/") or _is_public(doc, operation)
            request: dict[str, Any] = {
                "method": method.upper(),
                "header": [],
                "url": _url(path, operation.get("parameters", [])),
                "description": operation.get("description") or operation.get("summary", ""),
            }
            body = _body(doc, path, operation)
            if body is not None:
                request["body"] = body
                if body["mode"] == "raw":
                    request["header"].append({"key": "Content-Type", "value": "application/json"})
            if public:
                request["auth"] = {"type": "noauth"}
            item: dict[str, Any] = {
                "id": str(uuid.uuid5(NAMESPACE, op_id)),
                "name": op_id,
                "request": request,
            }
            if path == TOKEN_PATH:
                item["event"] = [
                    {"listen": "test", "script": {"type": "text/javascript", "exec": SAVE_TOKEN_TEST}}
                ]
            tag = (operation.get("tags") or ["other"])[0]
            folders.setdefault(tag, []).append(item)
    info = doc.get("info", {})
    collection = {
        "info": {
            "_postman_id": str(uuid.uuid5(NAMESPACE, "collection")),
            "name": info.get("title", "appliance"),
            "description": (
                f"{info.get('description', '')}\n\nGenerated from docs/openapi.json (version "
                f"{info.get('version', '?')}) by `make postman`; do not edit. Import it with "
                "appliance.postman_environment.json, set baseUrl, username and password (or apiKey "
                "for a worker token): every request fetches and refreshes its bearer token."
            ),
            "schema": SCHEMA_URL,
        },
        "auth": {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{accessToken}}", "type": "string"}],
        },
        "event": [{"listen": "prerequest", "script": {"type": "text/javascript", "exec": TOKEN_SCRIPT}}],
        "variable": [{"key": "baseUrl", "value": "http://localhost:8080", "type": "string"}],
        "item": [{"name": tag, "item": folders[tag]} for tag in sorted(folders)],
    }
    environment = {
        "id": str(uuid.uuid5(NAMESPACE, "environment")),
        "name": "appliance (local)",
        "values": [
            {"key": "baseUrl", "value": "http://localhost:8080", "type": "default", "enabled": True},
            {"key": "username", "value": "admin", "type": "default", "enabled": True},
            {"key": "password", "value": "", "type": "secret", "enabled": True},
            {"key": "apiKey", "value": "", "type": "secret", "enabled": True},
            {"key": "accessToken", "value": "", "type": "secret", "enabled": True},
            {"key": "accessTokenExpiresAt", "value": "0", "type": "default", "enabled": True},
        ],
        "_postman_variable_scope": "environment",
    }
    return collection, environment


def render(openapi: Path = OPENAPI) -> dict[Path, str]:
    collection, environment = build(json.loads(openapi.read_text()))
    return {
        COLLECTION: json.dumps(collection, indent=2, ensure_ascii=False) + "\n",
        ENVIRONMENT: json.dumps(environment, indent=2, ensure_ascii=False) + "\n",
    }


def stale(openapi: Path = OPENAPI) -> list[Path]:
    """The output files whose content differs from what the OpenAPI document generates."""
    return [path for path, text in render(openapi).items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the files are stale")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for path in outdated:
            print(f"stale: {path.relative_to(ROOT)} (run `make postman`)", file=sys.stderr)
        return 1 if outdated else 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in render().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
