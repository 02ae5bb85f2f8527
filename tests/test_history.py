"""Item history: created, modified and removed entries, written with the change, readable after removal."""

import orjson
import pytest

from phoenix.models import Change, Record
from phoenix.resources import base
from phoenix.schemas import HistorySchema, dumper

GAME = {"name": "Doom", "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}


def history(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.json
    return response.json["history"]


def test_a_records_whole_life(client, auth, make_key):
    client.post("/api/records", json={"value1": "Hello", "value3": True}, headers=auth)
    falcon = {"api-key": make_key("falcon")}
    client.patch("/api/records/1", json={"value1": "Bye", "value2": 2.5}, headers=falcon)
    client.delete("/api/records/1", headers=auth)

    assert client.get("/api/records/1").status_code == 404
    entries = history(client, "/api/records/1/history")
    assert [(e["version"], e["action"], e["changed_by"]) for e in entries] == [
        (1, "created", "tester"),
        (2, "modified", "falcon"),
        (3, "removed", "tester"),
    ]
    assert entries[0]["changes"] == {"value1": [None, "Hello"], "value3": [None, True]}
    assert entries[1]["changes"] == {"value1": ["Hello", "Bye"], "value2": [None, 2.5]}
    assert entries[2]["changes"] == {"value1": ["Bye", None], "value2": [2.5, None], "value3": [True, None]}
    assert all(e["changed_at"].endswith("+00:00") for e in entries)
    assert entries[0]["changed_at"] <= entries[1]["changed_at"] <= entries[2]["changed_at"]


def test_games_have_history(client, auth):
    client.post("/api/games", json=GAME, headers=auth)
    client.put("/api/games/1", json={**GAME, "year": 1994}, headers=auth)
    entries = history(client, "/api/games/1/history")
    assert [e["action"] for e in entries] == ["created", "modified"]
    assert entries[1]["changes"] == {"year": [1993, 1994]}


def test_legacy_writes_are_in_history(client, auth):
    client.post("/api/create", json={"value1": "a"}, headers=auth)
    client.patch("/api/modify/1", json={"value1": "b"}, headers=auth)
    client.delete("/api/remove/1", headers=auth)
    assert [e["action"] for e in history(client, "/api/records/1/history")] == [
        "created",
        "modified",
        "removed",
    ]


def test_bulk_creates_are_in_history(client, auth):
    client.post("/api/records", json=[{"value1": "a"}, {"value1": "b"}], headers=auth)
    assert history(client, "/api/records/2/history")[0]["changes"] == {"value1": [None, "b"]}


def test_failed_writes_leave_no_entry(client, auth, rows):
    client.post("/api/records", json={"value1": "a"}, headers=auth)
    client.patch("/api/records/1", json={"value2": "not a number"}, headers=auth)
    client.patch("/api/records/1", json={"value1": "b"}, headers={**auth, "If-Match": '"9"'})
    client.patch("/api/records/1", json={"value1": "c"})
    assert [e.action for e in rows(Change)] == ["created"]


def test_history_and_change_commit_together(client, auth, rows, monkeypatch):
    """If writing the history entry fails, the change itself is not kept either."""

    def broken(*args, **kwargs):
        raise RuntimeError("history unavailable")

    assert client.post("/api/records", json={"value1": "kept"}, headers=auth).status_code == 201
    monkeypatch.setattr(base, "record_creations", broken)
    monkeypatch.setattr(base, "record_change", broken)
    monkeypatch.setattr(base, "record_removal", broken)
    assert client.post("/api/records", json={"value1": "a"}, headers=auth).status_code == 500
    assert client.post("/api/records", json=[{"value1": "b"}], headers=auth).status_code == 500
    assert client.patch("/api/records/1", json={"value1": "c"}, headers=auth).status_code == 500
    assert client.delete("/api/records/1", headers=auth).status_code == 500
    assert [(r.id, r.value1, r.version) for r in rows(Record)] == [(1, "kept", 1)]
    assert [(c.item_id, c.action) for c in rows(Change)] == [(1, "created")]


def test_history_is_paged(client, auth):
    client.post("/api/records", json={"value2": 0}, headers=auth)
    for n in range(1, 5):
        client.patch("/api/records/1", json={"value2": n}, headers=auth)
    first = client.get("/api/records/1/history?limit=2")
    assert [e["version"] for e in first.json["history"]] == [1, 2]
    assert first.json["links"]["next"] in first.headers["Link"]
    versions = [e["version"] for e in first.json["history"]]
    url = first.json["links"]["next"]
    while url:
        page = client.get(url).json
        versions += [e["version"] for e in page["history"]]
        url = page["links"]["next"]
    assert versions == [1, 2, 3, 4, 5]


def test_history_of_an_item_that_never_was_is_404(client):
    response = client.get("/api/records/5/history")
    assert response.status_code == 404
    assert response.json["status"] == "failed"
    assert client.get("/api/games/5/history").status_code == 404


@pytest.mark.parametrize(
    "url", ["/api/records/x/history", "/api/records/1/history?limit=0", "/api/records/1/history?sort=id"]
)
def test_bad_history_requests_are_400(client, auth, url):
    client.post("/api/records", json={"value1": "a"}, headers=auth)
    response = client.get(url)
    assert response.status_code == 400
    assert response.json["status"] == "failed"


def test_the_fast_dump_of_an_entry_is_the_schema_dump(client, auth, rows):
    """The changes of an entry pass through the fast dump as stored (StoredChanges): as marshmallow's
    own dump of the schema writes them."""
    client.post("/api/records", json={"value1": "Hello", "value2": 2.5, "value3": None}, headers=auth)
    client.patch("/api/records/1", json={"value1": "Bye", "value3": False}, headers=auth)
    schema = HistorySchema()
    for entry in rows(Change):
        assert orjson.dumps(dumper(schema)(entry)) == orjson.dumps(schema.dump(entry))


@pytest.mark.parametrize("value", [1e300, 1.5e19, -2.5e-300])
def test_a_number_beyond_64_bit_integers_reads_back_from_history_and_the_feed(client, auth, value):
    # PostgreSQL's jsonb prints 1e+300 as its 301 digits: decoded, that is an integer no JSON encoder
    # takes (it answered 500). The stored JSON text is embedded as it is instead.
    created = client.post("/api/records", json={"value1": "big", "value2": value}, headers=auth)
    assert created.status_code == 201, created.json
    entries = history(client, "/api/records/1/history")
    feed = client.get("/api/changes?include=item")
    assert feed.status_code == 200, feed.json
    for changes in (entries[0]["changes"], feed.json["changes"][0]["changes"]):
        assert changes["value1"] == [None, "big"]
        assert changes["value2"][0] is None and float(changes["value2"][1]) == value
    assert feed.json["changes"][0]["item"]["value2"] == value
