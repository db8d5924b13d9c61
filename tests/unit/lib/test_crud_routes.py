"""The generic CRUD handlers take each area's names and types: routes, path parameter, schemas."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from litestar import Litestar, get

from appliance.db.models import Camera as CameraRow
from appliance.lib.crud import CrudService
from appliance.lib.crud_routes import Crud, CrudController, Filters, Op, Ops
from appliance.server.deps import DEPENDENCIES


class Thing(msgspec.Struct):
    id: uuid.UUID
    name: str


class ThingCreate(msgspec.Struct):
    name: str


class ThingUpdate(msgspec.Struct):
    name: str | msgspec.UnsetType = msgspec.UNSET


class ThingService(CrudService[CameraRow]):
    model = CameraRow
    target_type = "thing"


def thing_filters(name: str | None = None) -> Filters:
    return [CameraRow.name == name] if name else []


class ThingController(CrudController):
    path = "/v1/things"
    tags = ["things"]
    crud = Crud(ThingService, Thing, ThingCreate, ThingUpdate, filters=thing_filters)
    ops = Ops(
        list="List things.",
        get=Op("One thing.", frozenset({"admin"})),
        create="Make a thing.",
        delete=Op("Remove a thing.", options={"status_code": 202}),
    )


class WidgetController(CrudController):
    """Named after a path whose item is two words, with the item's default description."""

    path = "/v1/blue-widgets"
    crud = Crud(ThingService, Thing, filters=thing_filters)
    ops = Ops(list="List widgets.")


def operations(controller: type[CrudController]) -> dict[str, dict[str, Any]]:
    # The app's own dependencies (the principal, the tenant, the RLS session) feed ``service``.
    paths = Litestar([controller], dependencies=DEPENDENCIES).openapi_schema.to_schema()["paths"]
    return {op["operationId"]: op for ops in paths.values() for op in ops.values()}


def test_each_operation_is_documented_with_the_areas_names() -> None:
    ops = operations(ThingController)
    assert sorted(ops) == ["createThing", "deleteThing", "getThing", "listThings"]  # no update: not offered
    assert [p["name"] for p in ops["listThings"]["parameters"]] == ["limit", "offset", "name"]
    assert [(p["name"], p["in"]) for p in ops["getThing"]["parameters"]] == [("thing_id", "path")]
    assert ops["getThing"]["summary"] == "GetThing" and ops["getThing"]["description"] == "One thing."
    body = ops["createThing"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/ThingCreate")
    assert "202" in ops["deleteThing"]["responses"] and ops["listThings"]["tags"] == ["things"]


def test_operations_are_named_after_the_path() -> None:
    ops = operations(WidgetController)
    assert sorted(ops) == ["getBlueWidget", "listBlueWidgets"]
    assert ops["getBlueWidget"]["description"] == "One blue widget."
    assert [p["name"] for p in ops["getBlueWidget"]["parameters"]] == ["blue_widget_id"]


def test_an_operation_keeps_its_own_roles() -> None:
    handlers = {h.operation_id: h for h in ThingController.__dict__.values() if hasattr(h, "operation_id")}
    assert handlers["getThing"].opt == {"roles": frozenset({"admin"})}
    assert "roles" not in handlers["listThings"].opt


def test_a_handler_defined_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="defined twice"):

        class Twice(CrudController):
            path = "/v1/twice"
            crud = Crud(ThingService, Thing)
            ops = Ops()

            @get("/{twice_id:uuid}/other", sync_to_thread=False)
            def get_item(self) -> None: ...
