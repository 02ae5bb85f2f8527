"""/api/openapi.json, what it says: a valid OpenAPI 3 document that covers every route, written from the code.

The `spec` fixture has the shared answers, parameters and headers written out where they are used (so that
a test reads an operation as a client sees it); `served` is the document as served, references and all.
"""

import ast
import json
import re
from pathlib import Path

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec

from phoenix.errors import error_answer
from phoenix.models import Game, Record
from phoenix.ratelimits import UNLIMITED_ENDPOINTS
from phoenix.resources.games import GAMES, GameList
from phoenix.resources.records import RECORDS, RecordList
from phoenix.schemas import FIRST_YEAR, LAST_YEAR, GameSchema, RecordSchema
from tests.openapi_support import body_schemas, concrete, inline, operations, schema_of, served_spec

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


@pytest.fixture
def served(client):
    return served_spec(client)


@pytest.fixture
def spec(served):
    return inline(served)


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
    """An unsigned call to an operation is a 401 exactly where the spec names the key schemes; every other
    operation says that it needs none (`security: []`)."""
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
        if operation["security"]:
            secured += 1
            assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}]
            assert "401" in operation["responses"]
            assert response.status_code == 401, (method, path)
        else:
            assert operation["security"] == []
            assert response.status_code != 401, (method, path)
    # Records and games: POST, PUT, PATCH, DELETE; legacy create, modify, remove; /api/keys/me: GET,
    # DELETE; its rotate: POST.
    # /api/account/keys: GET, POST; /api/account/keys/<prefix>: DELETE.
    assert secured == 17


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
    # records and games: POST, PUT, PATCH; keys, account keys and rotation; legacy create, modify
    assert tried == 11


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


def test_a_whole_record_needs_one_value_in_the_spec_as_in_the_schema(client, spec, auth):
    """One model for generators (no anyOf of four): at least one field, and the description says that it
    must have a value, which the API checks (an empty object and an all-null one are both refused)."""
    record_input = spec["components"]["schemas"]["RecordInput"]
    assert record_input["minProperties"] == 1
    assert "required" not in record_input
    assert "At least one field must have a value (not null)." in record_input["description"]
    assert "minProperties" not in spec["components"]["schemas"]["GameInput"]  # every field required there
    for body in ({}, {"value1": None, "value2": None}):
        refused = client.post("/api/records", json=body, headers=auth)
        assert refused.status_code == 400, body
        assert refused.json["message"] == "Please populate atleast one field into the record and try again!"
    for name, schema in spec["components"]["schemas"].items():
        assert not {"anyOf", "allOf"} & set(schema), name


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
        assert [schema_of(spec, answer)["required"] for answer in created] == [
            ["status", singular],
            ["status", plural],
        ]
    # The Project Phoenix create takes one record only.
    legacy = spec["paths"]["/api/create"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert legacy == {"$ref": "#/components/schemas/RecordInput"}


def test_history_is_documented_for_both_collections(spec):
    entry = spec["components"]["schemas"]["History"]
    assert set(entry["required"]) == {"version", "action", "changed_by", "via", "changed_at", "changes"}
    assert entry["properties"]["action"]["enum"] == ["created", "modified", "removed"]
    assert entry["properties"]["via"]["nullable"] is True
    for plural in ("records", "games"):
        operation = spec["paths"][f"/api/{plural}/{{id}}/history"]["get"]
        assert {p["name"] for p in operation["parameters"]} == {"id", "limit", "cursor"}
        page = schema_of(spec, operation["responses"]["200"]["content"]["application/json"]["schema"])
        assert page["properties"]["history"]["items"] == {"$ref": "#/components/schemas/History"}
        assert {"200", "400", "404"} <= set(operation["responses"])


def test_the_key_lifecycle_is_documented(spec):
    own, rotate = spec["paths"]["/api/keys/me"], spec["paths"]["/api/keys/me/rotate"]["post"]
    assert set(own) == {"get", "delete"}
    key = spec["components"]["schemas"]["Key"]
    assert set(key["properties"]) == {
        "username", "name", "scopes", "prefix", "state", "created_on", "last_used_at", "expires_at", "grace_until",
    }  # fmt: skip
    assert key["properties"]["scopes"]["items"]["enum"] == [
        "records:write",
        "games:write",
        "keys:manage",
        "moderate",
    ]
    assert key["properties"]["expires_at"]["nullable"] is True
    assert rotate["requestBody"]["required"] is False  # a bare POST rotates
    assert set(rotate["requestBody"]["content"]["application/json"]["schema"]) == {"$ref"}
    assert spec["components"]["schemas"]["KeyRotation"]["properties"]["expires_in_days"]["minimum"] == 1
    assert set(spec["components"]["schemas"]["KeyRequest"]["properties"]) == {"username", "expires_in_days"}
    for path, method in (("/api/keys", "post"), ("/api/generate_key/{username}", "get")):
        answers = spec["paths"][path][method]["responses"]
        assert {"201", "403", "409"} <= set(answers), path
        assert answers["201"]["headers"]["Cache-Control"]["required"] is True
        assert (
            "api_key" in schema_of(spec, answers["201"]["content"]["application/json"]["schema"])["required"]
        )
    for _, _, operation in operations(spec):
        if operation["security"]:
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


# A document that generators and linters take as it is (the tools themselves run in test_openapi_tools.py).


def test_every_body_is_a_named_component(spec):
    """No anonymous object: a generator names each model after its component (RecordEnvelope, not
    PostRecordsResponse201)."""
    named = 0
    for path, method, operation in operations(spec):
        for where, schema in body_schemas(operation):
            alternatives = schema.get("oneOf", [schema])
            for alternative in alternatives:
                if alternative.get("type") == "array":
                    alternative = alternative["items"]
                assert set(alternative) == {"$ref"}, (method, path, where)
                named += 1
    assert named > 150
    bodies = spec["components"]["schemas"]
    for name in ("Record", "RecordInput", "RecordPatch", "RecordEnvelope", "RecordPage", "RecordBatch"):
        assert name in bodies and name.replace("Record", "Game") in bodies
    assert {"HistoryPage", "KeyCreated", "OwnKey", "KeyRevoked", "RecordInfo", "Message", "Error"} <= set(
        bodies
    )


def test_shared_answers_parameters_and_headers_are_components(served):
    """What many operations give is written once, under components, and referenced."""
    components = served["components"]
    for path, method, operation in operations(served):
        answers = operation["responses"]
        if operation["security"]:
            assert answers["401"] == {"$ref": "#/components/responses/NotAuthenticated"}
        assert answers["500"] == {"$ref": "#/components/responses/ServerError"}
        if "503" in answers:
            assert answers["503"] == {"$ref": "#/components/responses/DatabaseUnavailable"}
        if "429" in answers:
            assert answers["429"] == {"$ref": "#/components/responses/RateLimited"}
        for parameter in operation.get("parameters", []):
            if parameter.get("in", "header") == "header":
                assert set(parameter) == {"$ref"}, (method, path, parameter)
    assert set(components["parameters"]) == {"If-Match", "If-None-Match", "Idempotency-Key"}
    assert components["responses"]["DatabaseUnavailable"]["headers"]["Retry-After"] == {
        "$ref": "#/components/headers/Retry-After"
    }
    assert components["headers"]["ETag"]["required"] is True
    item = served["paths"]["/api/records/{id}"]
    assert item["patch"]["responses"]["412"] == {"$ref": "#/components/responses/StaleVersion"}
    assert item["get"]["responses"]["304"] == {"$ref": "#/components/responses/NotModified"}


def test_every_component_is_used(served):
    """Components are written when first used, so none is left over (Redocly's no-unused-components)."""
    text = json.dumps(served["paths"]) + json.dumps(served["components"])
    for kind, components in served["components"].items():
        if kind == "securitySchemes":
            continue
        for name in components:
            assert f'"#/components/{kind}/{name}"' in text, (kind, name)


def test_info_names_the_license_of_setup_cfg(spec):
    license_line = re.search(r"^license = (.+)$", (ROOT / "setup.cfg").read_text(), re.MULTILINE)[1]
    assert spec["info"]["license"]["name"] == license_line == "MIT"
    assert spec["info"]["license"]["url"].startswith("https://")


def test_every_operation_has_a_success_and_a_client_error_answer(spec):
    """Redocly's operation-2xx-response and operation-4xx-response, but for the Project Phoenix routes
    that only ever answer 400 (the ones that .redocly.lint-ignore.yaml names)."""
    only_400 = {"/api/generate_key/", "/api/read/", "/api/modify/", "/api/remove/"}
    for path, method, operation in operations(spec):
        codes = set(operation["responses"])
        assert any(code.startswith("4") for code in codes), (method, path)
        assert any(code.startswith("2") for code in codes) != (path in only_400), (method, path)


def test_tags_and_the_landing_page_describe_the_collections_from_one_line(client, spec):
    tags = {tag["name"]: tag.get("description") for tag in spec["tags"]}
    assert list(tags) == ["Records", "Games", "Changes", "Keys", "Project Phoenix", "Health", "Docs"]
    page = client.get("/").get_data(as_text=True)
    for collection in (RECORDS, GAMES):
        assert tags[collection.plural.title()] == collection.description
        assert collection.description in page
        assert (
            spec["components"]["schemas"][collection.singular.title()]["description"]
            == collection.description
        )
    year = spec["components"]["schemas"]["GameInput"]["properties"]["year"]
    assert (year["minimum"], year["maximum"]) == (FIRST_YEAR, LAST_YEAR)
    assert f"the year from {FIRST_YEAR} to {LAST_YEAR}" in GAMES.description


def phoenix_imports(path):
    """The phoenix modules that a source file imports."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("phoenix"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("phoenix"))
    return names


def test_the_spec_writer_is_generic_and_no_feature_imports_a_resource():
    """phoenix/openapi.py imports nothing of Phoenix; the modules that declare docs beside their feature
    import no resource (the imports run one way: resources use features, never the reverse)."""
    package = ROOT / "phoenix"
    assert phoenix_imports(package / "openapi.py") == set()
    writers = [
        path
        for path in package.glob("*.py")
        if "phoenix.openapi" in phoenix_imports(path) or path.name == "openapi.py"
    ]
    assert {path.name for path in writers} >= {
        "auth.py",
        "concurrency.py",
        "errors.py",
        "idempotency.py",
        "jsonio.py",
        "ratelimits.py",
    }
    for path in writers:
        assert not any(name.startswith("phoenix.resources") for name in phoenix_imports(path)), path.name


def test_error_examples_may_show_their_code_and_fit_the_error_schema(spec):
    answer = error_answer("Taken.", "That name is taken.", code="username_taken")
    assert answer.example == {"status": "failed", "message": "That name is taken.", "code": "username_taken"}
    validator = OAS30Validator({**spec["components"]["schemas"]["Error"], "components": spec["components"]})
    assert list(validator.iter_errors(answer.example)) == []
    assert list(validator.iter_errors({**answer.example, "request_id": "abc"})) == []
    assert list(validator.iter_errors({**answer.example, "code": "Not snake case"})) != []
    assert list(validator.iter_errors({**answer.example, "stack": "..."})) != []
