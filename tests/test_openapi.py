"""/api/openapi.json: a valid OpenAPI 3 document that covers every route, written from the code."""

import json
import re
from pathlib import Path

import pytest
from flask_restful import Resource
from marshmallow import Schema, fields, validate
from openapi_spec_validator import validate as validate_spec

from phoenix import create_app
from phoenix.models import Game, Record
from phoenix.openapi import Answer, Operation, array_of, build_spec, success
from phoenix.schemas import GameSchema, RecordSchema

README = Path(__file__).resolve().parent.parent / "README.md"
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
def spec(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def operations(spec):
    """(path, method, operation) for every operation of the spec."""
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def concrete(path, value="1"):
    """An OpenAPI path with its parameters filled in."""
    return re.sub(r"\{[^}]+\}", value, path)


def test_spec_is_valid_openapi_3(spec):
    validate_spec(spec)
    assert spec["openapi"].startswith("3.0.")
    assert spec["servers"] == [{"url": "/"}]


def test_every_url_rule_and_method_is_in_the_spec_and_nothing_else(app, spec):
    expected = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            expected.add((path, method.lower()))
    documented = {(path, method) for path, method, _ in operations(spec)}
    assert documented == expected
    assert len(expected) > 30


def test_every_operation_has_an_id_a_summary_a_tag_and_its_answers(spec):
    ids = [operation["operationId"] for _, _, operation in operations(spec)]
    assert len(ids) == len(set(ids))
    tags = {tag["name"] for tag in spec["tags"]}
    for path, method, operation in operations(spec):
        assert operation["summary"], (method, path)
        assert set(operation["tags"]) <= tags
        assert "500" in operation["responses"]
        assert any(code.startswith("2") or code == "400" for code in operation["responses"]), (method, path)


def test_every_failure_is_documented_in_the_error_shape(spec):
    assert spec["components"]["schemas"]["Error"]["required"] == ["status", "message"]
    for path, method, operation in operations(spec):
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)


def test_the_writes_and_only_they_ask_for_the_key(client, spec, auth):
    """An unsigned call to an operation is a 401 exactly where the spec names the key schemes."""
    client.post("/api/records", json={"value1": "x"}, headers=auth)
    client.post(
        "/api/games", json={"name": "Doom", "platform": "PC", "publisher": "id", "genre": "FPS", "year": 1993}
    )
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "api-key",
        "description": "The key from POST /api/keys.",
    }
    assert schemes["Bearer"]["scheme"] == "bearer"
    secured = 0
    for path, method, operation in operations(spec):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
        response = client.open(concrete(path, "1"), method=method.upper(), json=body)
        if "security" in operation:
            secured += 1
            assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}]
            assert "401" in operation["responses"]
            assert response.status_code == 401, (method, path)
        else:
            assert response.status_code != 401, (method, path)
    assert secured == 11  # records and games: POST, PUT, PATCH, DELETE; legacy create, modify, remove


def readme_bodies():
    """The JSON bodies that the README's curl commands send."""
    return [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", README.read_text())]


def test_request_examples_are_the_readmes(spec):
    bodies = readme_bodies()
    examples = [
        operation["requestBody"]["content"]["application/json"]["example"]
        for _, _, operation in operations(spec)
        if "requestBody" in operation
    ]
    assert examples
    for example in examples:
        assert example in bodies


def test_request_examples_are_accepted(client, spec, auth):
    """Sent as Swagger UI's "Try it out" sends them, every example body succeeds."""
    client.post("/api/records", json={"value1": "x"}, headers=auth)
    client.post(
        "/api/games", json={"name": "Doom", "platform": "PC", "publisher": "id", "genre": "FPS", "year": 1993}
    )
    tried = 0
    for path, method, operation in sorted(operations(spec)):
        if "requestBody" not in operation:
            continue
        example = operation["requestBody"]["content"]["application/json"]["example"]
        if path == "/api/keys":
            example = {"username": "from-the-docs"}
        response = client.open(concrete(path, "1"), method=method.upper(), json=example, headers=auth)
        assert response.status_code in (200, 201), (method, path, response.json)
        tried += 1
    assert tried == 9  # records and games: POST, PUT, PATCH; keys; legacy create and modify


def test_item_components_are_written_from_the_schemas(spec):
    components = spec["components"]["schemas"]
    record, game = components["Record"], components["Game"]
    assert set(record["properties"]) == set(RecordSchema().fields)
    assert set(record["required"]) == set(RecordSchema().fields)  # an answer carries every field
    assert record["properties"]["value1"]["maxLength"] == Record.__table__.c.value1.type.length
    assert record["properties"]["creationdate"] == {"type": "string", "format": "date-time", "readOnly": True}
    assert set(components["GameInput"]["properties"]) == set(GameSchema().load_fields)
    assert set(components["GameInput"]["required"]) == {"name", "platform", "publisher", "genre", "year"}
    assert components["GameInput"]["additionalProperties"] is False
    assert components["GamePatch"].get("required") is None
    assert components["GamePatch"]["minProperties"] == 1
    assert game["properties"]["platform"]["maxLength"] == Game.__table__.c.platform.type.length
    assert (
        game["properties"]["year"] | {"type": "integer", "minimum": 1950, "maximum": 2100}
        == game["properties"]["year"]
    )
    assert components["GameInput"]["properties"]["name"]["pattern"] == r"\S"  # blank names are refused
    assert components["KeyRequest"]["properties"]["username"]["pattern"] == "^[A-Za-z0-9_.-]{1,64}$"


def test_a_whole_record_needs_one_value_in_the_spec_as_in_the_schema(spec):
    record_input = spec["components"]["schemas"]["RecordInput"]
    assert record_input["anyOf"] == [
        {"required": ["timestamp"], "properties": {"timestamp": {"type": "number"}}},
        {"required": ["value1"], "properties": {"value1": {"type": "string", "maxLength": 255}}},
        {"required": ["value2"], "properties": {"value2": {"type": "number"}}},
        {"required": ["value3"], "properties": {"value3": {"type": "boolean"}}},
    ]
    assert "anyOf" not in spec["components"]["schemas"]["GameInput"]


def test_listing_parameters_are_documented(spec):
    games = {p["name"]: p for p in spec["paths"]["/api/games"]["get"]["parameters"]}
    assert set(games) == {"limit", "cursor", "name"}
    assert games["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    legacy = {p["name"]: p for p in spec["paths"]["/api/list"]["get"]["parameters"]}
    assert legacy["limit"]["schema"]["maximum"] == 1000


def test_spec_servers_follow_the_mount_point(client):
    response = client.get("/api/openapi.json", base_url="http://localhost/phoenix")
    assert response.json["servers"] == [{"url": "/phoenix"}]


class Undocumented(Resource):
    def get(self):
        return {}


class Search(Schema):
    """Query parameters of a toy route."""

    q = fields.String(required=True, metadata={"description": "What to look for."})
    page = fields.Integer(validate=validate.Range(min=1))


class Documented(Resource):
    docs = {
        "get": Operation(
            summary="Search",
            tag="Toys",
            query=Search,
            parameters=[{"in": "header", "name": "If-None-Match", "schema": {"type": "string"}}],
            answers={
                200: Answer(
                    "Found.",
                    success(toys=array_of({"type": "string"}), total={"type": "integer"}, optional=["total"]),
                    headers={"ETag": "The version of the page."},
                )
            },
        )
    }

    def get(self):
        return {}


def toy_app(resource):
    """Phoenix with one more route, /toys, served by resource."""
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    app.add_url_rule("/toys", view_func=resource.as_view("toys"))
    return app


def test_a_route_without_docs_stops_the_spec_and_says_what_to_add():
    with pytest.raises(LookupError, match=r"GET /toys \(Undocumented\) has no OpenAPI description"):
        build_spec(toy_app(Undocumented))


def test_query_parameters_can_come_from_a_marshmallow_schema():
    operation = build_spec(toy_app(Documented))["paths"]["/toys"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["q"] == {
        "in": "query",
        "name": "q",
        "required": True,
        "schema": {"type": "string"},
        "description": "What to look for.",
    }
    assert parameters["page"]["schema"] == {"type": "integer", "minimum": 1}
    assert parameters["If-None-Match"]["in"] == "header"
    assert "400" in operation["responses"]


def test_answers_take_optional_parts_and_headers():
    answer = build_spec(toy_app(Documented))["paths"]["/toys"]["get"]["responses"]["200"]
    body = answer["content"]["application/json"]["schema"]
    assert body["required"] == ["status", "toys"]
    assert body["properties"]["total"] == {"type": "integer"}
    assert answer["headers"]["ETag"] == {
        "description": "The version of the page.",
        "schema": {"type": "string"},
    }
