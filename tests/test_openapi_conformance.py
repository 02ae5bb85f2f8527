"""/api/openapi.json kept: the answers that generated requests seldom or never meet, held to the spec.

304, 412, idempotent replays and 422, bulk creates, history, the key's whole life (401 revoked, rotated or
expired; 403; 409), 429 with the limits on, and, with the database unreachable, a 503 from exactly the
operations that document one. Each answer is judged by schemathesis's own checks against the document as
served (shared answers, parameters and headers by reference). tests/test_contract.py generates the rest.
"""

from datetime import timedelta

import pytest
import schemathesis
import sqlalchemy as sa

from phoenix import create_app
from phoenix.extensions import db
from phoenix.models import AuthenticationKey, utcnow
from tests.openapi_support import CONFORMANCE, case_of, concrete, contract_check, operations, served_spec

GAME = {"name": "Doom", "platform": "PC", "publisher": "id Software", "genre": "Shooter", "year": 1993}


@pytest.fixture
def keeps_the_contract(client):
    """check(method, path, response): the response is one that the spec documents for that operation."""
    return contract_check(served_spec(client))


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
