"""The Postman collection is generated from docs/openapi.json and kept current."""

from __future__ import annotations

import json
from pathlib import Path

from tests.deploy import postman


def test_collection_is_current() -> None:
    stale = postman.stale()
    assert stale == [], f"regenerate with `make postman`: {[p.name for p in stale]}"


def test_every_operation_is_a_request_with_the_token_flow() -> None:
    doc = json.loads(postman.OPENAPI.read_text())
    operations = {
        op["operationId"] for item in doc["paths"].values() for m, op in item.items() if m in postman.METHODS
    }
    collection = json.loads(postman.COLLECTION.read_text())
    requests = {i["name"]: i for folder in collection["item"] for i in folder["item"]}
    assert set(requests) == operations
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    assert collection["auth"]["type"] == "bearer"
    script = "\n".join(collection["event"][0]["script"]["exec"])
    assert "/v1/auth/token" in script and "accessTokenExpiresAt" in script
    token = next(i for i in requests.values() if i["request"]["url"]["raw"].endswith("/v1/auth/token"))
    assert token["request"]["auth"] == {"type": "noauth"}
    assert json.loads(token["request"]["body"]["raw"])["grant_type"] == "password"
    assert requests["healthz"]["request"]["auth"] == {"type": "noauth"}
    assert "auth" not in requests["listSites"]["request"]  # inherits the collection's bearer
    env = json.loads(postman.ENVIRONMENT.read_text())
    assert {v["key"] for v in env["values"]} >= {"baseUrl", "username", "password", "apiKey", "accessToken"}


def test_generation_follows_the_openapi_document(tmp_path: Path) -> None:
    doc = json.loads(postman.OPENAPI.read_text())
    doc["paths"]["/v1/things/{thing_id}"] = {
        "get": {
            "operationId": "getThing",
            "tags": ["things"],
            "parameters": [{"in": "path", "name": "thing_id"}],
        }
    }
    changed = tmp_path / "openapi.json"
    changed.write_text(json.dumps(doc))
    assert set(postman.stale(changed)) == {postman.COLLECTION}
    collection, _ = postman.build(doc)
    (thing,) = next(f for f in collection["item"] if f["name"] == "things")["item"]
    assert thing["request"]["url"]["raw"] == "{{baseUrl}}/v1/things/:thing_id"
