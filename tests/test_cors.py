"""CORS: browser apps on the origins named in CORS_ORIGINS may call the API; no others."""

import pytest

from phoenix import create_app

ORIGIN = "https://app.example"


@pytest.fixture
def cors_client(db_url, monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", f"{ORIGIN}, https://other.example")
    return create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url}).test_client()


def test_a_preflight_from_a_named_origin_allows_the_key_and_precondition_headers(cors_client):
    response = cors_client.options(
        "/api/records/1",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "api-key, content-type, if-match",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"api-key", "content-type", "if-match"} <= allowed


def test_answers_to_a_named_origin_expose_etag_and_location(cors_client, make_key):
    response = cors_client.get("/api/records", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"ETag", "Location", "Link", "Retry-After", "X-Request-ID"} <= exposed


def test_an_origin_not_named_gets_no_cors_headers(cors_client):
    response = cors_client.get("/api/records", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_without_cors_origins_no_origin_is_allowed(client):
    response = client.get("/api/records", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers
