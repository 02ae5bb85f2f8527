"""Optimistic concurrency: ETags on items, If-None-Match (304), If-Match (412, nothing written)."""

import threading

import pytest

from phoenix.models import Game, Record

GAME = {"name": "Doom", "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}


@pytest.fixture
def record(client, auth):
    response = client.post("/api/records", json={"value1": "first", "value2": 0}, headers=auth)
    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    return response.json["record"]


def test_get_answers_a_strong_etag_that_moves_with_each_change(client, auth, record):
    assert client.get("/api/records/1").headers["ETag"] == '"1"'
    patched = client.patch("/api/records/1", json={"value1": "second"}, headers=auth)
    assert patched.headers["ETag"] == '"2"'
    assert client.get("/api/records/1").headers["ETag"] == '"2"'
    put = client.put("/api/records/1", json={"value1": "third"}, headers=auth)
    assert put.headers["ETag"] == '"3"'


@pytest.mark.parametrize("header", ['"1"', "*", 'W/"1"', '"7", "1"'])
def test_if_none_match_on_the_current_version_is_304(client, record, header):
    response = client.get("/api/records/1", headers={"If-None-Match": header})
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == '"1"'


def test_if_none_match_on_an_old_version_is_200(client, auth, record):
    client.patch("/api/records/1", json={"value1": "second"}, headers=auth)
    response = client.get("/api/records/1", headers={"If-None-Match": '"1"'})
    assert response.status_code == 200
    assert response.json["record"]["value1"] == "second"


@pytest.mark.parametrize("header", ['"1"', "*", '"9", "1"'])
def test_if_match_on_the_current_version_lets_the_write_through(client, auth, rows, record, header):
    response = client.patch("/api/records/1", json={"value1": "mine"}, headers={**auth, "If-Match": header})
    assert response.status_code == 200
    assert rows(Record)[0].value1 == "mine"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("header", ['"2"', '"0"', 'W/"3"', "garbage"])
def test_if_match_on_a_stale_version_is_412_and_writes_nothing(client, auth, rows, record, method, header):
    """The record is at version 3; weak tags never match If-Match (strong comparison)."""
    client.patch("/api/records/1", json={"value1": "theirs"}, headers=auth)
    client.patch("/api/records/1", json={"value1": "theirs again"}, headers=auth)
    response = getattr(client, method)(
        "/api/records/1", json={"value1": "mine"}, headers={**auth, "If-Match": header}
    )
    assert response.status_code == 412
    assert response.json["status"] == "failed"
    assert "changed since you read it" in response.json["message"]
    assert response.headers["ETag"] == '"3"'
    [stored] = rows(Record)
    assert (stored.value1, stored.version) == ("theirs again", 3)


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 415),  # no body at all
        ({"json": {"value2": "not a number"}}, 400),
        ({"json": {"colour": "red"}}, 400),
        ({"data": "{", "content_type": "application/json"}, 400),
    ],
)
def test_a_bad_request_is_refused_as_such_whatever_if_match_says(
    client, auth, rows, record, method, body, status
):
    """Found by the contract test: a body that no version could accept is a 400 (or 415), not a 412,
    since re-reading the item and retrying would not mend it; the item is left as it was."""
    for header in ('"7"', '"1"'):
        response = getattr(client, method)("/api/records/1", headers={**auth, "If-Match": header}, **body)
        assert response.status_code == status, (header, response.json)
        assert response.json["status"] == "failed"
    [stored] = rows(Record)
    assert (stored.value1, stored.version) == ("first", 1)


def test_a_missing_item_is_404_before_anything_else(client, auth):
    response = client.patch("/api/records/9", json={"colour": "red"}, headers={**auth, "If-Match": '"7"'})
    assert response.status_code == 404


def test_without_if_match_the_last_write_wins(client, auth, rows, record):
    client.patch("/api/records/1", json={"value1": "a"}, headers=auth)
    response = client.patch("/api/records/1", json={"value1": "b"}, headers=auth)
    assert response.status_code == 200
    assert rows(Record)[0].value1 == "b"


def test_games_have_etags_too(client, auth, rows):
    assert client.post("/api/games", json=GAME, headers=auth).headers["ETag"] == '"1"'
    stale = client.patch("/api/games/1", json={"year": 1994}, headers={**auth, "If-Match": '"5"'})
    assert stale.status_code == 412
    assert rows(Game)[0].year == 1993
    assert client.delete("/api/games/1", headers={**auth, "If-Match": '"1"'}).status_code == 200


def test_legacy_routes_are_unchanged(client, auth, record):
    response = client.patch("/api/modify/1", json={"value1": "legacy"}, headers=auth)
    assert response.status_code == 200
    assert response.json["record_info"]["value1"] == "legacy"
    assert client.get("/api/records/1").headers["ETag"] == '"2"'


def test_concurrent_increments_with_if_match_lose_nothing(app, auth, rows, record):
    """Clients that read, add one, and write back with If-Match (retrying on 412) never lose an increment."""
    accepted = []
    errors = []

    def increment(times):
        client = app.test_client()
        done = 0
        while done < times:
            current = client.get("/api/records/1")
            value = current.json["record"]["value2"]
            headers = {**auth, "If-Match": current.headers["ETag"]}
            response = client.patch("/api/records/1", json={"value2": value + 1}, headers=headers)
            if response.status_code == 200:
                done += 1
                accepted.append(1)
            elif response.status_code != 412:
                errors.append((response.status_code, response.json))
                return

    threads = [threading.Thread(target=increment, args=(5,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(accepted) == 20
    assert rows(Record)[0].value2 == 20
