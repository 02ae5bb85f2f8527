"""The changes feed (GET /api/changes): order, tombstones, cursors, long poll, include=item, via, loads
and the backfill, the plan; over real gunicorn: exactly once under concurrent writers, and the README's
sync script."""

import threading
import time

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from phoenix import create_app, database
from phoenix.extensions import db
from phoenix.models import Change
from phoenix.resources import changes as feed

GAME = {"name": "Doom", "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}


def page(client, query=""):
    response = client.get(f"/api/changes{query}")
    assert response.status_code == 200, response.json
    return response


def keys_of(entries):
    return [(e["collection"], e["item_id"], e["version"], e["action"]) for e in entries]


def history_rows(app):
    """Every history entry in the database, by id."""
    with app.app_context():
        return db.session.execute(sa.select(Change).order_by(Change.id)).scalars().all()


def test_the_feed_tells_every_change_of_both_collections_in_order_with_removals(client, auth, app):
    client.post("/api/records", json={"value1": "Hello"}, headers=auth)
    client.post("/api/games", json=GAME, headers=auth)
    client.patch("/api/records/1", json={"value1": "Bye"}, headers=auth)
    client.delete("/api/games/1", headers=auth)

    response = page(client)
    body = response.json
    assert keys_of(body["changes"]) == [
        ("records", 1, 1, "created"),
        ("games", 1, 1, "created"),
        ("records", 1, 2, "modified"),
        ("games", 1, 2, "removed"),
    ]
    first = body["changes"][0]
    assert set(first) == {
        "collection", "item_id", "version", "action", "changed_by", "via", "changed_at", "changes",
    }  # fmt: skip
    assert first["changes"] == {"value1": [None, "Hello"]}
    assert first["changed_by"] == "tester"
    assert body["changes"][3]["changes"]["name"] == ["Doom", None]
    assert body["next_cursor"]
    assert body["links"]["next"] == f"/api/changes?since={body['next_cursor']}"
    assert response.headers["Link"] == f'<{body["links"]["next"]}>; rel="next"'
    # The entries are the history table's, no more, no less.
    stored = history_rows(app)
    assert [(e.collection, e.item_id, e.version, e.action) for e in stored] == keys_of(body["changes"])


def test_following_next_cursor_pages_through_and_an_empty_page_keeps_the_cursor(client, auth):
    for n in range(5):
        client.post("/api/records", json={"value2": n}, headers=auth)
    seen, url = [], "/api/changes?limit=2"
    for _ in range(3):
        body = page(client, url.removeprefix("/api/changes")).json
        seen += body["changes"]
        url = body["links"]["next"]
    assert [e["changes"]["value2"][1] for e in seen] == [0, 1, 2, 3, 4]
    assert "limit=2" in url
    cursor = body["next_cursor"]
    empty = page(client, f"?since={cursor}").json
    assert empty["changes"] == [] and empty["next_cursor"] == cursor
    # A change after the cursor comes on the next call, and only it.
    client.patch("/api/records/5", json={"value2": 50}, headers=auth)
    assert keys_of(page(client, f"?since={cursor}").json["changes"]) == [("records", 5, 2, "modified")]


def test_an_empty_feed_answers_a_cursor_to_resume_from(client, auth):
    body = page(client).json
    assert body["changes"] == [] and body["next_cursor"]
    client.post("/api/games", json=GAME, headers=auth)
    assert keys_of(page(client, f"?since={body['next_cursor']}").json["changes"]) == [
        ("games", 1, 1, "created")
    ]


def test_collection_keeps_one_collections_changes_and_its_cursor_works_for_both(client, auth):
    client.post("/api/records", json={"value1": "a"}, headers=auth)
    client.post("/api/games", json=GAME, headers=auth)
    client.post("/api/records", json={"value1": "b"}, headers=auth)
    games = page(client, "?collection=games").json
    assert keys_of(games["changes"]) == [("games", 1, 1, "created")]
    assert keys_of(page(client, f"?since={games['next_cursor']}").json["changes"]) == [
        ("records", 2, 1, "created")
    ]
    assert [e["item_id"] for e in page(client, "?collection=records").json["changes"]] == [1, 2]


def test_include_item_adds_the_item_as_it_is_now_and_null_once_removed(client, auth):
    client.post("/api/records", json={"value1": "a"}, headers=auth)
    client.patch("/api/records/1", json={"value1": "b"}, headers=auth)
    client.post("/api/games", json=GAME, headers=auth)
    client.delete("/api/games/1", headers=auth)
    entries = page(client, "?include=item").json["changes"]
    now = client.get("/api/records/1").json["record"]
    assert [e["item"] for e in entries] == [now, now, None, None]
    assert now["value1"] == "b"
    assert "item" not in page(client).json["changes"][0]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("?since=not-a-cursor", {"since"}),
        ("?color=red", {"color"}),
        ("?wait=31", {"wait"}),
        ("?wait=-1", {"wait"}),
        ("?wait=nan", {"wait"}),
        ("?limit=0", {"limit"}),
        ("?limit=1001", {"limit"}),
        ("?collection=keys", {"collection"}),
        ("?include=everything", {"include"}),
        ("?limit=5&limit=6", {"limit"}),
    ],
)
def test_bad_parameters_are_a_400_naming_them(client, query, names):
    response = client.get(f"/api/changes{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.json["status"] == "failed"
    assert response.json["code"] == "invalid_parameters"
    assert set(response.json["errors"]) == names


def test_an_edited_cursor_or_a_lists_cursor_is_a_400(client, auth):
    for n in range(3):
        client.post("/api/records", json={"value2": n}, headers=auth)
    cursor = page(client, "?limit=1").json["next_cursor"]
    edited = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    list_cursor = client.get("/api/records?limit=1").json["next_cursor"]
    for bad in (edited, cursor[:-4], list_cursor):
        response = client.get(f"/api/changes?since={bad}")
        assert response.status_code == 400, bad
        assert response.json["code"] == "invalid_parameters"
        assert response.json["errors"] == {"since": ["Not valid."]}
        assert response.json["message"] == feed.BAD_SINCE


def test_via_is_the_prefix_of_the_key_that_made_the_change(client, make_key, app):
    first, second = make_key("alice"), make_key("bob")
    client.post("/api/records", json={"value1": "a"}, headers={"api-key": first})
    client.patch("/api/records/1", json={"value1": "b"}, headers={"api-key": second})
    prefixes = [key.rsplit("_", 1)[0] for key in (first, second)]
    assert [e["via"] for e in page(client).json["changes"]] == prefixes
    assert [e["via"] for e in client.get("/api/records/1/history").json["history"]] == prefixes
    assert [e.via for e in history_rows(app)] == prefixes
    assert client.get("/api/keys/me", headers={"api-key": first}).json["key"]["prefix"] == prefixes[0]


def test_seed_and_import_write_created_entries_with_the_rows(runner, client, app, tmp_path):
    result = runner.invoke(args=["seed", "records", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    csv = tmp_path / "games.csv"
    csv.write_text("Name,Platform,Year,Genre,Publisher\nWii Sports,Wii,2006,Sports,Nintendo\n")
    result = runner.invoke(args=["games", "import", str(csv), "--as", "vgchartz"])
    assert result.exit_code == 0, result.output

    entries = page(client, "?include=item").json["changes"]
    assert keys_of(entries) == [
        ("records", 1, 1, "created"),
        ("records", 2, 1, "created"),
        ("records", 3, 1, "created"),
        ("games", 1, 1, "created"),
    ]
    for entry in entries:
        item = entry["item"]
        # Each field with a value, from null to it, exactly as the API writes a created entry.
        expected = {name: [None, item[name]] for name in entry["changes"]}
        assert entry["changes"] == expected
        fields = (
            ("timestamp", "value1", "value2", "value3")
            if entry["collection"] == "records"
            else tuple(name for name in ("name", "platform", "publisher", "genre", "year"))
        )
        assert set(entry["changes"]) == {name for name in fields if item[name] is not None}
        assert entry["via"] is None
        assert entry["changed_by"] == item["lastmodifiedby"]
        assert entry["changed_at"] == item["creationdate"]
    assert entries[3]["changes"]["year"] == [None, 2006]


def test_a_load_that_fails_leaves_neither_rows_nor_entries(runner, app, tmp_path):
    csv = tmp_path / "games.csv"
    csv.write_text("Name,Platform,Genre\nDoom,PC,Shooter\n")
    assert runner.invoke(args=["games", "import", str(csv), "--as", "vgchartz"]).exit_code == 1
    assert history_rows(app) == []


def test_wait_holds_an_empty_page_for_the_time_asked_then_answers_the_same_cursor(client):
    cursor = page(client).json["next_cursor"]
    started = time.monotonic()
    body = page(client, f"?since={cursor}&wait=0.6").json
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 2
    assert body == {
        "status": "success",
        "changes": [],
        "next_cursor": cursor,
        "links": {"next": f"/api/changes?since={cursor}&wait=0.6"},
    }


def test_wait_answers_soon_after_a_commit_and_holds_no_connection_while_it_sleeps(
    client, app, auth, monkeypatch, db_url
):
    cursor = page(client).json["next_cursor"]
    checked_out = []
    real_sleep = time.sleep

    def sleep(seconds):
        # Held by a request: checked out of the pool, less those kept idle for the next reads (PostgreSQL).
        kept = app.extensions.get(database.READ_CONNECTIONS)
        with app.app_context():
            checked_out.append(db.engine.pool.checkedout() - (len(kept.idle) if kept else 0))
        real_sleep(seconds)

    monkeypatch.setattr(feed.time, "sleep", sleep)
    committed = {}

    # The writer has an app (and a connection pool) of its own: the pool watched is the feed's.
    writer_app = create_app(
        {"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, "RATELIMIT_ENABLED": False}
    )

    def write_later():
        real_sleep(1)
        writer = writer_app.test_client()
        assert writer.post("/api/games", json=GAME, headers=auth).status_code == 201
        committed["at"] = time.monotonic()

    thread = threading.Thread(target=write_later)
    thread.start()
    started = time.monotonic()
    body = page(client, f"?since={cursor}&wait=20").json
    answered = time.monotonic()
    thread.join()
    assert keys_of(body["changes"]) == [("games", 1, 1, "created")]
    assert answered - started >= 1
    if db_url.startswith("sqlite"):
        # On PostgreSQL, a long transaction of another database on the same server may hold it back.
        assert answered - committed["at"] < 0.6
    assert checked_out and set(checked_out) == {0}
    with writer_app.app_context():
        db.engine.dispose()


@pytest.mark.postgresql_only
@pytest.mark.parametrize("collection", [None, "records"])
def test_a_page_is_an_index_scan_with_a_limit_never_a_sort(app, collection):
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO history (collection, item_id, version, action, changed_by, changed_at, changes,"
                " xid) SELECT CASE WHEN n % 50 = 0 THEN 'records' ELSE 'games' END, n, 1, 'created', 'x',"
                " now(), '{}'::jsonb, n / 10 FROM generate_series(1, 50000) AS n"
            )
        )
        connection.execute(sa.text("ANALYZE history"))
        statement = feed.page_statement("postgresql", collection).params(xid=2000, id=20000, page_size=101)
        sql = statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
        plan = connection.exec_driver_sql(f"EXPLAIN {sql}").scalars().all()
    text = "\n".join(plan)
    index = "ix_history_collection_feed" if collection else "ix_history_feed"
    assert plan[0].startswith("Limit"), text
    assert f"Index Scan using {index} on history" in text, text
    only = "((collection)::text = 'records'::text) AND " if collection else ""
    assert (
        f"Index Cond: ({only}(ROW(xid, id) > ROW(2000, 20000)) AND (xid < phoenix_feed_horizon()))" in text
    ), text
    nodes = [line.strip().removeprefix("->").strip() for line in plan]
    assert not [
        node for node in nodes if node.startswith(("Sort", "Incremental Sort", "Seq Scan on history"))
    ]


def test_migration_0006_backfills_created_entries_for_items_without_history(blank_url):
    app = create_app(
        {"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": blank_url, "RATELIMIT_ENABLED": False}
    )
    with app.app_context():
        upgrade(revision="0004")
        with db.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO record (timestamp, value1, value2, value3, creationdate, lastmodificationdate,"
                    " lastmodifiedby, version) VALUES (1.5, 'a', NULL, true, :t, :t, 'old', 1),"
                    " (NULL, NULL, 2.0, false, :t, :t, 'old', 1), (NULL, 'kept', NULL, NULL, :t, :t, 'old', 2)"
                ),
                {"t": "2026-01-02 03:04:05+00:00"},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO game (name, platform, publisher, genre, year, creationdate,"
                    " lastmodificationdate, lastmodifiedby, version)"
                    " VALUES ('Doom', 'PC', 'id', 'Shooter', 1993, :t, :t, 'importer', 1)"
                ),
                {"t": "2026-01-02 03:04:05+00:00"},
            )
            # Record 3 has history already (a change after 0004): it gets no second beginning.
            connection.execute(
                sa.text(
                    "INSERT INTO history (collection, item_id, version, action, changed_by, changed_at, changes)"
                    " VALUES ('records', 3, 2, 'modified', 'old', :t, :changes)"
                ),
                {"t": "2026-01-02 03:04:05+00:00", "changes": '{"value1": [null, "kept"]}'},
            )
        upgrade()
    client = app.test_client()
    entries = page(client).json["changes"]
    assert keys_of(entries) == [
        ("records", 3, 2, "modified"),
        ("records", 1, 1, "created"),
        ("records", 2, 1, "created"),
        ("games", 1, 1, "created"),
    ]
    assert entries[1]["changes"] == {"timestamp": [None, 1.5], "value1": [None, "a"], "value3": [None, True]}
    assert entries[2]["changes"] == {"value2": [None, 2.0], "value3": [None, False]}
    assert entries[3]["changes"] == {
        "name": [None, "Doom"], "platform": [None, "PC"], "publisher": [None, "id"],
        "genre": [None, "Shooter"], "year": [None, 1993],
    }  # fmt: skip
    assert [e["via"] for e in entries] == [None] * 4
    assert [e["changed_by"] for e in entries] == ["old", "old", "old", "importer"]
    assert entries[1]["changed_at"] == "2026-01-02T03:04:05.000000+00:00"
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
