"""/api/openapi.json: a valid OpenAPI 3 document that covers every route, written from the code."""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
import sqlalchemy as sa
from flask_restful import Resource
from marshmallow import Schema, fields, validate
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from phoenix import create_app
from phoenix.extensions import db
from phoenix.models import AuthenticationKey, Game, Record, utcnow
from phoenix.openapi import Answer, Operation, array_of, build_spec, success
from phoenix.ratelimits import UNLIMITED_ENDPOINTS
from phoenix.resources.games import GameList
from phoenix.resources.records import RecordList
from phoenix.schemas import GameSchema, RecordSchema

README = Path(__file__).resolve().parent.parent / "README.md"
GAME = {"name": "Doom", "platform": "PC", "publisher": "id Software", "genre": "Shooter", "year": 1993}
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


# What an answer must be to keep the contract: a documented status, media type, headers and body.
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def case_of(contract, method, path):
    """A schemathesis case of the operation, to judge an answer by (its path parameters are filled in)."""
    parameters = dict.fromkeys(re.findall(r"\{([^}]+)\}", path), "1")
    return contract[path][method].Case(path_parameters=parameters)


@pytest.fixture
def keeps_the_contract(spec):
    """check(method, path, response): the response is one that the spec documents for that operation,
    as schemathesis's own checks judge it (path: as the spec writes it, /api/records/{id})."""
    contract = schemathesis.openapi.from_dict(spec)

    def check(method, path, response):
        assert str(response.status_code) in spec["paths"][path][method]["responses"], (
            method,
            path,
            response.status_code,
        )
        case_of(contract, method, path).validate_response(response, checks=CONFORMANCE)
        return response

    return check


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
    # Records and games: POST, PUT, PATCH, DELETE; legacy create, modify, remove; /api/keys/me: GET,
    # DELETE; its rotate: POST.
    assert secured == 14


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


def test_every_example_matches_its_schema(spec):
    """The examples Swagger UI shows, of bodies and of answers, are what the schemas describe."""
    checked = 0
    for path, method, operation in operations(spec):
        media = (
            [operation["requestBody"]["content"]["application/json"]] if "requestBody" in operation else []
        )
        media += [m for answer in operation["responses"].values() for m in answer.get("content", {}).values()]
        for one in media:
            if "example" in one:
                validator = OAS30Validator({**one["schema"], "components": spec["components"]})
                errors = [error.message for error in validator.iter_errors(one["example"])]
                assert errors == [], (method, path, one["example"])
                checked += 1
    assert checked > 100


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
        if path == "/api/keys/me/rotate":
            auth = {"api-key": response.json["api_key"]}  # the old key stopped working
        tried += 1
    assert tried == 10  # records and games: POST, PUT, PATCH; keys and their rotation; legacy create, modify


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
    for path, resource in (("/api/games", GameList), ("/api/records", RecordList)):
        documented = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        # Exactly what the listing's own schema reads: the spec is written from it.
        assert set(documented) == set(resource.collection.listing.parameters.fields)
        assert all(p["in"] == "query" and p["description"] for p in documented.values())
        assert documented["limit"]["schema"] == {
            "type": "integer",
            "minimum": 1,
            "maximum": 500,
            "default": 50,
        }
        assert documented["sort"]["schema"]["type"] == "string"
        assert re.fullmatch(documented["sort"]["schema"]["pattern"], "-lastmodificationdate,id")
        assert not re.fullmatch(documented["sort"]["schema"]["pattern"], "-id,lastmodificationdate")
    legacy = {p["name"]: p for p in spec["paths"]["/api/list"]["get"]["parameters"]}
    assert set(legacy) == {"limit", "cursor"}
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


# What issues 4 (keys) and 6 (never losing a write) added, in the spec and in the answers themselves.


def header_parameters(operation):
    """The names of an operation's request-header parameters."""
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}


def test_items_document_their_etags_and_preconditions(spec):
    for plural in ("records", "games"):
        item = spec["paths"][f"/api/{plural}/{{id}}"]
        assert header_parameters(item["get"]) == {"If-None-Match"}
        assert item["get"]["responses"]["200"]["headers"]["ETag"]["required"] is True
        not_modified = item["get"]["responses"]["304"]
        assert "content" not in not_modified  # no body
        assert not_modified["headers"]["ETag"]["required"] is True
        for method in ("put", "patch", "delete"):
            assert header_parameters(item[method]) == {"If-Match"}, method
            assert item[method]["responses"]["412"]["headers"]["ETag"]["required"] is True
        for method in ("put", "patch"):
            assert item[method]["responses"]["200"]["headers"]["ETag"]["required"] is True
        created = spec["paths"][f"/api/{plural}"]["post"]["responses"]["201"]["headers"]
        assert set(created) == {"Location", "ETag", "Idempotent-Replayed"}


def test_creates_document_idempotency_and_bulk(spec):
    for path in ("/api/records", "/api/games", "/api/create"):
        operation = spec["paths"][path]["post"]
        [key] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["in"] == "header"
        assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)
        assert operation["responses"]["422"]["content"]["application/json"]["example"]["errors"] == {
            "Idempotency-Key": ["Already used with a different request."]
        }
        assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
    for singular, plural in (("record", "records"), ("game", "games")):
        operation = spec["paths"][f"/api/{plural}"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        one = {"$ref": f"#/components/schemas/{singular.title()}Input"}
        assert body == {"oneOf": [one, {"type": "array", "items": one, "minItems": 1, "maxItems": 1000}]}
        created = operation["responses"]["201"]["content"]["application/json"]["schema"]["oneOf"]
        assert [answer["required"] for answer in created] == [["status", singular], ["status", plural]]
    # The Project Phoenix create takes one record only.
    legacy = spec["paths"]["/api/create"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert legacy == {"$ref": "#/components/schemas/RecordInput"}


def test_history_is_documented_for_both_collections(spec):
    entry = spec["components"]["schemas"]["History"]
    assert set(entry["required"]) == {"version", "action", "changed_by", "changed_at", "changes"}
    assert entry["properties"]["action"]["enum"] == ["created", "modified", "removed"]
    for plural in ("records", "games"):
        operation = spec["paths"][f"/api/{plural}/{{id}}/history"]["get"]
        assert {p["name"] for p in operation["parameters"]} == {"id", "limit", "cursor"}
        page = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert page["properties"]["history"]["items"] == {"$ref": "#/components/schemas/History"}
        assert {"200", "400", "404"} <= set(operation["responses"])


def test_the_key_lifecycle_is_documented(spec):
    own, rotate = spec["paths"]["/api/keys/me"], spec["paths"]["/api/keys/me/rotate"]["post"]
    assert set(own) == {"get", "delete"}
    key = spec["components"]["schemas"]["Key"]
    assert set(key["properties"]) == {"username", "prefix", "created_on", "last_used_at", "expires_at"}
    assert key["properties"]["expires_at"]["nullable"] is True
    assert rotate["requestBody"]["required"] is False  # a bare POST rotates
    assert set(rotate["requestBody"]["content"]["application/json"]["schema"]) == {"$ref"}
    assert spec["components"]["schemas"]["KeyRotation"]["properties"]["expires_in_days"]["minimum"] == 1
    assert set(spec["components"]["schemas"]["KeyRequest"]["properties"]) == {"username", "expires_in_days"}
    for path, method in (("/api/keys", "post"), ("/api/generate_key/{username}", "get")):
        answers = spec["paths"][path][method]["responses"]
        assert {"201", "403", "409"} <= set(answers), path
        assert answers["201"]["headers"]["Cache-Control"]["required"] is True
        assert "api_key" in answers["201"]["content"]["application/json"]["schema"]["required"]
    for _, _, operation in operations(spec):
        if "security" in operation:
            assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True


def test_429_is_documented_on_every_limited_route_and_503_wherever_the_database_is(app, spec):
    endpoints = {
        re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", r"{\1}", rule.rule): rule.endpoint
        for rule in app.url_map.iter_rules()
    }
    unlimited = {path for path, endpoint in endpoints.items() if endpoint in UNLIMITED_ENDPOINTS}
    assert unlimited == {"/health", "/health/ready"}
    for path, method, operation in operations(spec):
        answers = operation["responses"]
        assert ("429" in answers) == (path not in unlimited), (method, path)
        if "429" in answers:
            assert {"Retry-After", "X-RateLimit-Limit"} <= set(answers["429"]["headers"])
        if "503" in answers:
            assert answers["503"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    without_database = {
        (path, method) for path, method, op in operations(spec) if "503" not in op["responses"]
    }
    assert ("get", "/health/ready") not in without_database
    assert ("/health", "get") in without_database and ("/api/docs", "get") in without_database


@pytest.mark.parametrize("limits", [False, True], ids=["limits-off", "limits-on"])
def test_503_is_documented_exactly_where_an_outage_answers_it(limits):
    """With the database unreachable, every operation, called as the docs show it (with a key, and the
    example body), answers 503 if and only if the spec says it can; and each answer keeps the contract."""
    app = create_app(
        {
            "PHOENIX_CONFIG": "testing",
            "SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent-folder/phoenix.sqlite3",
            "RATELIMIT_ENABLED": limits,
        }
    )
    client = app.test_client()
    spec = client.get("/api/openapi.json").json
    contract = schemathesis.openapi.from_dict(spec)
    values = {"{filename}": "phoenix.css", "{username}": "someone"}
    unavailable = set()
    for path, method, operation in operations(spec):
        url = path
        for placeholder, value in values.items():
            url = url.replace(placeholder, value)
        if path.startswith("/api/docs/"):
            url = "/api/docs/swagger-ui.css"
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
        response = client.open(
            concrete(url),
            method=method.upper(),
            json=body,
            headers={"api-key": "phx_" + "0" * 16 + "_" + "x" * 43},
        )
        assert (response.status_code == 503) == ("503" in operation["responses"]), (method, path)
        case_of(contract, method, path).validate_response(response, checks=CONFORMANCE)
        if response.status_code == 503:
            unavailable.add((method, path))
    assert {("get", "/api/records"), ("post", "/api/keys/me/rotate"), ("get", "/health/ready")} <= unavailable


@pytest.fixture
def item(client, auth):
    """A record at version 1."""
    response = client.post("/api/records", json={"value1": "first"}, headers=auth)
    assert response.status_code == 201
    return response.json["record"]


def test_etag_answers_keep_the_contract(client, auth, item, keeps_the_contract):
    path = "/api/records/{id}"
    read = keeps_the_contract("get", path, client.get("/api/records/1"))
    assert read.headers["ETag"] == '"1"'
    assert (
        keeps_the_contract(
            "get", path, client.get("/api/records/1", headers={"If-None-Match": '"1"'})
        ).status_code
        == 304
    )
    for method in ("put", "patch", "delete"):
        stale = client.open(
            "/api/records/1", method=method.upper(), json={"value1": "x"}, headers={**auth, "If-Match": '"9"'}
        )
        assert keeps_the_contract(method, path, stale).status_code == 412
    changed = client.patch("/api/records/1", json={"value1": "x"}, headers={**auth, "If-Match": '"1"'})
    assert keeps_the_contract("patch", path, changed).headers["ETag"] == '"2"'


def test_idempotent_and_bulk_creates_keep_the_contract(client, auth, keeps_the_contract):
    for path in ("/api/records", "/api/create"):
        headers = {**auth, "Idempotency-Key": f"retry-{path}"}
        first = keeps_the_contract("post", path, client.post(path, json={"value1": "a"}, headers=headers))
        again = keeps_the_contract("post", path, client.post(path, json={"value1": "a"}, headers=headers))
        assert first.status_code == again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        reused = keeps_the_contract("post", path, client.post(path, json={"value1": "b"}, headers=headers))
        assert reused.status_code == 422
        bad_key = client.post(path, json={"value1": "b"}, headers={**auth, "Idempotency-Key": "x" * 256})
        assert keeps_the_contract("post", path, bad_key).status_code == 400
    bulk = client.post("/api/games", json=[GAME, GAME], headers=auth)
    assert keeps_the_contract("post", "/api/games", bulk).status_code == 201
    assert len(bulk.json["games"]) == 2
    replayed = client.post("/api/games", json=[GAME], headers={**auth, "Idempotency-Key": "bulk"})
    assert keeps_the_contract("post", "/api/games", replayed).status_code == 201
    invalid = client.post("/api/games", json=[GAME, {"name": ""}], headers=auth)
    assert keeps_the_contract("post", "/api/games", invalid).status_code == 400


def test_history_answers_keep_the_contract(client, auth, item, keeps_the_contract):
    path = "/api/records/{id}/history"
    client.patch("/api/records/1", json={"value2": 2.5, "value1": None}, headers=auth)
    client.delete("/api/records/1", headers=auth)
    history = keeps_the_contract("get", path, client.get("/api/records/1/history?limit=2"))
    assert [entry["action"] for entry in history.json["history"]] == ["created", "modified"]
    assert history.headers["Link"]
    assert keeps_the_contract("get", path, client.get(history.json["links"]["next"])).status_code == 200
    assert keeps_the_contract("get", path, client.get("/api/records/7/history")).status_code == 404
    assert keeps_the_contract("get", path, client.get("/api/records/1/history?limit=0")).status_code == 400


def test_key_lifecycle_answers_keep_the_contract(app, client, make_key, keeps_the_contract):
    key = {"api-key": make_key("cycler")}
    assert (
        keeps_the_contract("get", "/api/keys/me", client.get("/api/keys/me", headers=key)).status_code == 200
    )
    rotated = client.post("/api/keys/me/rotate", headers=key)
    assert keeps_the_contract("post", "/api/keys/me/rotate", rotated).status_code == 201
    refused = client.get("/api/keys/me", headers=key)  # the key that was rotated away
    assert keeps_the_contract("get", "/api/keys/me", refused).status_code == 401
    key = {"api-key": rotated.json["api_key"]}
    again = client.post("/api/keys/me/rotate", json={"expires_in_days": 2}, headers=key)
    assert keeps_the_contract("post", "/api/keys/me/rotate", again).json["expires_at"] is not None
    key = {"api-key": again.json["api_key"]}
    revoked = keeps_the_contract("delete", "/api/keys/me", client.delete("/api/keys/me", headers=key))
    assert revoked.status_code == 200
    after = keeps_the_contract(
        "post", "/api/records", client.post("/api/records", json={"value1": "x"}, headers=key)
    )
    assert after.status_code == 401
    taken = keeps_the_contract("post", "/api/keys", client.post("/api/keys", json={"username": "CYCLER"}))
    assert taken.status_code == 409
    expiring = client.post("/api/keys", json={"username": "brief", "expires_in_days": 1})
    assert keeps_the_contract("post", "/api/keys", expiring).status_code == 201
    with app.app_context():
        db.session.execute(sa.update(AuthenticationKey).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    expired = client.get("/api/keys/me", headers={"api-key": expiring.json["api_key"]})
    assert keeps_the_contract("get", "/api/keys/me", expired).status_code == 401
    assert "expired" in expired.json["message"]


@pytest.mark.parametrize("app_config", [{"PHOENIX_OPEN_REGISTRATION": False}])
def test_closed_registration_keeps_the_contract(client, keeps_the_contract):
    closed = client.post("/api/keys", json={"username": "sumit"})
    assert keeps_the_contract("post", "/api/keys", closed).status_code == 403
    legacy = client.get("/api/generate_key/sumit")
    assert keeps_the_contract("get", "/api/generate_key/{username}", legacy).status_code == 403


LIMITS = {
    "RATELIMIT_ENABLED": True,
    "PHOENIX_RATELIMIT_KEYS": "1/hour",
    "PHOENIX_RATELIMIT_WRITES": "1/minute",
    "PHOENIX_RATELIMIT_READS": "1/minute",
}


@pytest.mark.parametrize("app_config", [LIMITS])
def test_rate_limited_answers_keep_the_contract(client, auth, keeps_the_contract):
    """The fixture's key uses up the key limit, and fetching the spec the read limit; one write is allowed."""
    assert (
        keeps_the_contract("post", "/api/keys", client.post("/api/keys", json={"username": "x"})).status_code
        == 429
    )
    write = lambda: client.post("/api/records", json={"value1": "x"}, headers=auth)  # noqa: E731
    assert keeps_the_contract("post", "/api/records", write()).status_code == 201
    limited = keeps_the_contract("post", "/api/records", write())
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert keeps_the_contract("get", "/api/records", client.get("/api/records")).status_code == 429
    assert keeps_the_contract("get", "/health", client.get("/health")).status_code == 200
