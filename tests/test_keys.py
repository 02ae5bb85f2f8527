"""Self-service keys: POST /api/keys and GET/POST /api/generate_key/<username>."""

import re
from datetime import datetime

import pytest

from phoenix.models import AuthenticationKey


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("post", "/api/keys", {"json": {"username": "sumit"}}),
        ("get", "/api/generate_key/sumit", {}),
        ("post", "/api/generate_key/sumit", {}),
    ],
)
def test_key_creation_is_201_shown_once_and_not_cached(client, rows, method, url, kwargs):
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "success"
    assert body["message"] == "Congrats! Your API Key has been created!"
    assert body["username"] == "sumit"
    assert datetime.fromisoformat(body["created_on"]).utcoffset().total_seconds() == 0
    # At least 128 bits: 22 or more URL-safe base64 characters.
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", body["api_key"])
    assert response.headers["Cache-Control"] == "no-store"
    [stored] = rows(AuthenticationKey)
    assert stored.username == "sumit"


def test_every_key_is_different(client):
    keys = {client.post("/api/keys", json={"username": f"user{n}"}).json["api_key"] for n in range(5)}
    assert len(keys) == 5


def test_key_works_for_writes(client, make_key):
    key = make_key("falcon")
    response = client.post("/api/records", json={"value1": "x"}, headers={"api-key": key})
    assert response.json["record"]["lastmodifiedby"] == "falcon"


@pytest.mark.parametrize("taken", ["sumit", "SUMIT", "Sumit"])
def test_taken_username_is_409_whatever_its_case(client, rows, taken):
    assert client.get("/api/generate_key/sumit").status_code == 201
    for response in (
        client.get(f"/api/generate_key/{taken}"),
        client.post("/api/keys", json={"username": taken}),
    ):
        assert response.status_code == 409
        assert response.json == {
            "status": "failed",
            "message": "The username you are trying to register has been already used!",
        }
    assert [key.username for key in rows(AuthenticationKey)] == ["sumit"]


@pytest.mark.parametrize("username", ["a b", "x" * 65, "caf\u00e9", "semi;colon", "new\nline", "a\x00"])
def test_invalid_username_is_400(client, rows, username):
    response = client.post("/api/keys", json={"username": username})
    assert response.status_code == 400
    assert list(response.json["errors"]) == ["username"]
    assert rows(AuthenticationKey) == []


def test_invalid_username_in_the_url_is_400(client, rows):
    response = client.get("/api/generate_key/" + "x" * 65)
    assert response.status_code == 400
    assert "username" in response.json["errors"]
    assert rows(AuthenticationKey) == []


def test_longest_username_is_accepted(client):
    assert client.post("/api/keys", json={"username": "x" * 64}).status_code == 201


def test_key_request_without_username_is_400(client, rows):
    response = client.post("/api/keys", json={})
    assert response.status_code == 400
    assert response.json["errors"] == {"username": ["Missing data for required field."]}
    assert rows(AuthenticationKey) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"api-key": ""},
        {"api-key": "x" * 1000},
        {"api-key": "caf\u00e9"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
)
def test_strange_keys_are_401_not_500(client, headers):
    response = client.post("/api/records", json={"value1": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
