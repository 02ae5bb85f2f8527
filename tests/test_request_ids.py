"""X-Request-ID: the client's kept when it is 1 to 128 of A-Za-z0-9._-, else a new UUID; on every answer."""

import uuid

import pytest

GOOD = ["a", "req-42", "A.b_c-9", "x" * 128, str(uuid.uuid4())]
BAD = ["", "x" * 129, "has space", "semi;colon", "tab\there", "caf\u00e9", 'quote"']


@pytest.mark.parametrize("sent", GOOD)
def test_an_acceptable_request_id_is_echoed_on_success_and_failure(client, sent):
    ok = client.get("/api/records", headers={"X-Request-ID": sent})
    assert ok.status_code == 200
    assert ok.headers["X-Request-ID"] == sent
    failed = client.get("/api/records/nope", headers={"X-Request-ID": sent})
    assert failed.status_code == 400
    assert failed.headers["X-Request-ID"] == sent
    assert failed.json["request_id"] == sent


@pytest.mark.parametrize("sent", BAD)
def test_an_unacceptable_request_id_is_replaced_by_a_new_uuid(client, sent):
    response = client.get("/api/records/99", headers={"X-Request-ID": sent})
    assert response.status_code == 404
    made = response.headers["X-Request-ID"]
    assert made != sent
    assert str(uuid.UUID(made)) == made
    assert response.json["request_id"] == made


def test_without_a_request_id_each_request_gets_its_own(client):
    first, second = client.get("/health"), client.get("/health")
    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2
    for made in ids:
        assert str(uuid.UUID(made)) == made


@pytest.mark.parametrize(
    ("method", "url"), [("get", "/"), ("get", "/api/openapi.json"), ("delete", "/api/records"), ("get", "/x")]
)
def test_every_answer_carries_a_request_id(client, method, url):
    response = getattr(client, method)(url)
    assert uuid.UUID(response.headers["X-Request-ID"])
