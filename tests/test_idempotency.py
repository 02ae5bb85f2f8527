"""Idempotency-Key on creates: a retry replays the first answer; a concurrent duplicate makes no second row."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from phoenix.extensions import db
from phoenix.models import Game, IdempotentRequest, Record, utcnow

GAME = {"name": "Doom", "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}
CREATES = [
    ("/api/records", {"value1": "once"}, Record),
    ("/api/create", {"value1": "once"}, Record),
    ("/api/games", GAME, Game),
    ("/api/records", [{"value1": "a"}, {"value1": "b"}], Record),
]


@pytest.mark.parametrize(("url", "body", "model"), CREATES)
def test_a_retry_replays_the_first_answer(client, auth, rows, url, body, model):
    headers = {**auth, "Idempotency-Key": "order-42"}
    first = client.post(url, json=body, headers=headers)
    again = client.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers.get("Location") == first.headers.get("Location")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(rows(model)) == (2 if isinstance(body, list) else 1)


def test_the_same_key_with_another_body_is_422(client, auth, rows):
    headers = {**auth, "Idempotency-Key": "k1"}
    client.post("/api/records", json={"value1": "a"}, headers=headers)
    response = client.post("/api/records", json={"value1": "b"}, headers=headers)
    assert response.status_code == 422
    assert response.json["status"] == "failed"
    assert "Idempotency-Key" in response.json["errors"]
    assert [r.value1 for r in rows(Record)] == ["a"]


def test_the_same_key_on_another_route_is_422(client, auth, rows):
    headers = {**auth, "Idempotency-Key": "k1"}
    client.post("/api/records", json={"value1": "a"}, headers=headers)
    assert client.post("/api/create", json={"value1": "a"}, headers=headers).status_code == 422
    assert len(rows(Record)) == 1


def test_keys_belong_to_one_api_key(client, auth, make_key, rows):
    client.post("/api/records", json={"value1": "a"}, headers={**auth, "Idempotency-Key": "k1"})
    other = {"api-key": make_key("falcon"), "Idempotency-Key": "k1"}
    response = client.post("/api/records", json={"value1": "a"}, headers=other)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert [r.lastmodifiedby for r in rows(Record)] == ["tester", "falcon"]


def test_without_a_key_each_post_creates(client, auth, rows):
    client.post("/api/records", json={"value1": "a"}, headers=auth)
    client.post("/api/records", json={"value1": "a"}, headers=auth)
    assert len(rows(Record)) == 2


def test_a_failed_create_is_not_remembered(client, auth, rows):
    headers = {**auth, "Idempotency-Key": "k1"}
    assert client.post("/api/records", json={"value1": 5}, headers=headers).status_code == 400
    assert client.post("/api/records", json={"value1": "5"}, headers=headers).status_code == 201
    assert [r.value1 for r in rows(Record)] == ["5"]


def test_after_24_hours_the_key_creates_again(app, client, auth, rows):
    headers = {**auth, "Idempotency-Key": "k1"}
    client.post("/api/records", json={"value1": "a"}, headers=headers)
    with app.app_context():
        db.session.execute(sa.update(IdempotentRequest).values(created_at=utcnow() - timedelta(hours=25)))
        db.session.commit()
    response = client.post("/api/records", json={"value1": "a"}, headers=headers)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert len(rows(Record)) == 2
    assert len(rows(IdempotentRequest)) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_an_invalid_idempotency_key_is_400(client, auth, rows, key):
    response = client.post("/api/records", json={"value1": "a"}, headers={**auth, "Idempotency-Key": key})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json["errors"]
    assert rows(Record) == []


def test_concurrent_duplicates_make_one_row(app, auth, rows):
    headers = {**auth, "Idempotency-Key": "race"}
    start = threading.Barrier(6)
    answers = []

    def send():
        client = app.test_client()
        start.wait()
        response = client.post("/api/records", json={"value1": "race"}, headers=headers)
        answers.append((response.status_code, response.json))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _ in answers} == {201}
    assert len({body["record"]["id"] for _, body in answers}) == 1
    assert len(rows(Record)) == 1
