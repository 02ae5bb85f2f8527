"""Every failure carries the stable `code` of DESIGN's "Responses" table, and the request's id."""

import pytest

from phoenix.errors import CODES
from phoenix.models import Record

RECORD = {"value1": "kept"}

# (code, status, method, url, keyword arguments of the test client's call); "AUTH" stands for the key.
CASES = [
    ("invalid_json", 400, "post", "/api/records", {"data": "{nope", "content_type": "application/json"}),
    ("invalid_json", 400, "post", "/api/records", {"data": "", "content_type": "application/json"}),
    ("invalid_body", 400, "post", "/api/records", {"json": "a string"}),
    ("invalid_body", 400, "post", "/api/records", {"json": []}),
    ("invalid_body", 400, "post", "/api/create", {"json": {}}),
    ("invalid_fields", 400, "post", "/api/records", {"json": {"value2": "not a number"}}),
    ("invalid_fields", 400, "patch", "/api/records/1", {"json": {"id": 5}}),
    ("invalid_parameters", 400, "get", "/api/records?limit=0", {}),
    ("invalid_parameters", 400, "get", "/api/records?cursor=forged", {}),
    (
        "invalid_parameters",
        400,
        "post",
        "/api/records",
        {"json": RECORD, "headers": {"Idempotency-Key": " "}},
    ),
    ("invalid_id", 400, "get", "/api/records/abc", {}),
    ("invalid_id", 400, "get", "/api/read/abc", {}),
    ("not_found", 404, "get", "/api/records/99", {}),
    ("not_found", 404, "get", "/no/such/route", {}),
    ("method_not_allowed", 405, "put", "/api/records", {"json": RECORD}),
    ("stale_version", 412, "patch", "/api/records/1", {"json": RECORD, "headers": {"If-Match": '"7"'}}),
    ("body_too_large", 413, "post", "/api/records", {"json": {"value1": "x" * 300}}),
    ("unsupported_media_type", 415, "post", "/api/records", {"data": "value1=x"}),
]


@pytest.fixture
def app_config(db_url):
    return {"MAX_CONTENT_LENGTH": 256}


@pytest.mark.parametrize(("code", "status", "method", "url", "kwargs"), CASES)
def test_each_failure_carries_its_code(client, auth, rows, code, status, method, url, kwargs):
    assert client.post("/api/records", json=RECORD, headers=auth).status_code == 201
    kwargs = {**kwargs, "headers": {**auth, **kwargs.get("headers", {})}}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status, response.json
    assert response.json["status"] == "failed"
    assert response.json["code"] == code
    assert response.json["request_id"] == response.headers["X-Request-ID"]
    assert [record.value1 for record in rows(Record)] == ["kept"]  # nothing written by a failure


def test_an_idempotency_key_reused_with_another_body_is_422_idempotency_key_reused(client, auth, rows):
    headers = {**auth, "Idempotency-Key": "once"}
    assert client.post("/api/records", json={"value1": "a"}, headers=headers).status_code == 201
    response = client.post("/api/records", json={"value1": "b"}, headers=headers)
    assert response.status_code == 422
    assert response.json["code"] == "idempotency_key_reused"
    assert [record.value1 for record in rows(Record)] == ["a"]


def test_a_missing_username_is_400_missing_username(client):
    response = client.post("/api/generate_key/")
    assert (response.status_code, response.json["code"]) == (400, "missing_username")


def test_every_code_is_a_snake_case_name_with_a_meaning():
    for code, meaning in CODES.items():
        assert code.replace("_", "").isalpha() and code.islower(), code
        assert meaning.endswith(".")
