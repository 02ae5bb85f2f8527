"""Bulk create: an array of up to 1000 objects, created all or nothing."""

import pytest

from phoenix.models import AuthenticationKey, Change, Game, Record

GAME = {"name": "Doom", "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}


def test_an_array_creates_every_item(client, auth, rows):
    response = client.post(
        "/api/records", json=[{"value1": "a"}, {"value2": 2}, {"value3": False}], headers=auth
    )
    assert response.status_code == 201
    records = response.json["records"]
    assert [r["id"] for r in records] == [1, 2, 3]
    assert all(r["lastmodifiedby"] == "tester" for r in records)
    assert [(r.value1, r.value2, r.value3) for r in rows(Record)] == [
        ("a", None, None),
        (None, 2, None),
        (None, None, False),
    ]
    assert len(rows(Change)) == 3


def test_games_in_bulk(client, auth, rows):
    response = client.post("/api/games", json=[GAME, {**GAME, "name": "Quake"}], headers=auth)
    assert response.status_code == 201
    assert [g.name for g in rows(Game)] == ["Doom", "Quake"]


def test_one_invalid_item_fails_all_naming_index_and_field(client, auth, rows):
    body = [{"value1": "ok"}, {"value1": 5}, {"value1": "ok"}, {"colour": "red"}]
    response = client.post("/api/records", json=body, headers=auth)
    assert response.status_code == 400
    assert response.json["errors"] == {
        "1": {"value1": ["Not a valid string."]},
        "3": {"colour": ["Unknown field."]},
    }
    assert "1, 3" in response.json["message"]
    assert rows(Record) == []
    assert rows(Change) == []


def test_an_item_that_is_not_an_object_is_400(client, auth, rows):
    response = client.post("/api/games", json=[GAME, "Quake"], headers=auth)
    assert response.status_code == 400
    assert "1" in response.json["errors"]
    assert rows(Game) == []


def test_an_item_with_no_value_is_400(client, auth, rows):
    response = client.post("/api/records", json=[{"value1": "ok"}, {}], headers=auth)
    assert response.status_code == 400
    assert response.json["errors"] == {
        "1": {"_schema": ["Please populate atleast one field into the record and try again!"]}
    }
    assert rows(Record) == []


@pytest.mark.parametrize("count", [0, 1001])
def test_empty_or_over_1000_is_400(client, auth, rows, count):
    response = client.post("/api/records", json=[{"value1": "x"}] * count, headers=auth)
    assert response.status_code == 400
    assert response.json["message"] == "Send from 1 to 1000 items in one array."
    assert rows(Record) == []


def test_1000_is_accepted(client, auth, rows):
    response = client.post("/api/records", json=[{"value2": n} for n in range(1000)], headers=auth)
    assert response.status_code == 201
    assert len(rows(Record)) == 1000


def test_arrays_are_refused_where_bulk_is_not_offered(client, auth, rows, actions):
    actions.create_record({"value1": "kept"})  # so that the PATCH finds its record and reads the body
    for method, url in (("post", "/api/create"), ("patch", "/api/records/1"), ("post", "/api/keys")):
        response = getattr(client, method)(url, json=[{"value1": "x"}], headers=auth)
        assert response.status_code == 400, url
        assert response.json == {
            "status": "failed",
            "message": "The request body must be a JSON object.",
            "code": "invalid_body",
            "request_id": response.headers["X-Request-ID"],
        }, url
    assert [(r.value1, r.version) for r in rows(Record)] == [("kept", 1)]
    assert [k.username for k in rows(AuthenticationKey)] == ["tester"]
