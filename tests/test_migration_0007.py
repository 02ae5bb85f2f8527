"""Migration 0007: existing keys become `default` keys with the three self-service scopes and keep working;
items get `createdby` from their `created` history entry, else from `lastmodifiedby`."""

import hashlib

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from phoenix import create_app
from phoenix.extensions import db
from phoenix.models import AuthenticationKey, Game, Record

SECRET = "Xq7bJ9mL0x2c7vYkQ1sWdE8rT5uZ3aNfGh4Kp6Rt8Vw"
KEY = f"phx_00000000000000aa_{SECRET}"


@pytest.fixture
def app_at_0004(blank_url):
    """An app on a database at revision 0004, holding keys, items and history as they were then."""
    settings = {"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": blank_url, "RATELIMIT_ENABLED": False}
    app = create_app(settings)
    with app.app_context():
        upgrade(revision="0004")
        with db.engine.begin() as connection:
            insert_key = sa.text(
                "INSERT INTO authenticationkey (username, prefix, secret_hash, created_on, replaced_at)"
                " VALUES (:username, :prefix, :hash, CURRENT_TIMESTAMP, :replaced)"
            )
            digest = hashlib.sha256(SECRET.encode()).hexdigest()
            connection.execute(
                insert_key,
                {
                    "username": "Sumit",
                    "prefix": "phx_00000000000000a0",
                    "hash": "0" * 64,
                    "replaced": "2026-01-01",
                },
            )
            connection.execute(
                insert_key,
                {"username": "Sumit", "prefix": "phx_00000000000000aa", "hash": digest, "replaced": None},
            )
            insert_item = (
                "INSERT INTO {table} ({columns}, creationdate, lastmodificationdate, lastmodifiedby, version)"
                " VALUES ({values}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :by, 2)"
            )
            for by in ("bob", "carol"):
                connection.execute(
                    sa.text(insert_item.format(table="record", columns="value1", values="'x'")), {"by": by}
                )
            connection.execute(
                sa.text(
                    insert_item.format(
                        table="game",
                        columns="name, platform, publisher, genre, year",
                        values="'Doom', 'PC', 'id', 'FPS', 1993",
                    )
                ),
                {"by": "erin"},
            )
            insert_entry = sa.text(
                "INSERT INTO history (collection, item_id, version, action, changed_by, changed_at, changes)"
                " VALUES (:collection, :item_id, :version, :action, :by, CURRENT_TIMESTAMP, '{}')"
            )
            # Record 1: created by alice, changed by bob; record 2: no history; game 1: created by dave.
            connection.execute(insert_entry, {"collection": "records", "item_id": 1, "version": 1, "action": "created", "by": "alice"})  # fmt: skip
            connection.execute(insert_entry, {"collection": "records", "item_id": 1, "version": 2, "action": "modified", "by": "bob"})  # fmt: skip
            connection.execute(insert_entry, {"collection": "games", "item_id": 1, "version": 1, "action": "created", "by": "dave"})  # fmt: skip
            # An entry of another collection with the same id must not be taken for record 2's.
            connection.execute(insert_entry, {"collection": "games", "item_id": 2, "version": 1, "action": "created", "by": "mallory"})  # fmt: skip
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_upgrade_names_and_scopes_existing_keys_and_they_keep_working(app_at_0004):
    with app_at_0004.app_context():
        upgrade()
        keys = db.session.scalars(sa.select(AuthenticationKey).order_by(AuthenticationKey.id)).all()
        assert [(k.name, k.scopes, k.founding) for k in keys] == [
            ("default", "records:write games:write keys:manage", True),
        ] * 2
        assert keys[0].lineage == keys[1].lineage
    client = app_at_0004.test_client()
    me = client.get("/api/keys/me", headers={"api-key": KEY})
    assert me.status_code == 200
    assert (me.json["key"]["name"], me.json["key"]["scopes"]) == (
        "default",
        ["records:write", "games:write", "keys:manage"],
    )
    assert client.post("/api/records", json={"value1": "y"}, headers={"api-key": KEY}).status_code == 201
    # The username stays taken whatever its case, and its key can mint and rotate as any other.
    assert client.post("/api/keys", json={"username": "sumit"}).status_code == 409
    minted = client.post("/api/account/keys", json={"name": "ci"}, headers={"api-key": KEY})
    assert minted.status_code == 201, minted.json
    assert client.post("/api/keys/me/rotate", headers={"api-key": KEY}).status_code == 201


def test_upgrade_sets_createdby_from_the_created_entry_else_lastmodifiedby(app_at_0004):
    with app_at_0004.app_context():
        upgrade()
        records = db.session.scalars(sa.select(Record).order_by(Record.id)).all()
        games = db.session.scalars(sa.select(Game).order_by(Game.id)).all()
        assert [(r.createdby, r.lastmodifiedby) for r in records] == [("alice", "bob"), ("carol", "carol")]
        assert [g.createdby for g in games] == ["dave"]


def test_downgrade_to_0004_and_back(app_at_0004):
    with app_at_0004.app_context():
        upgrade()
    client = app_at_0004.test_client()
    assert client.post("/api/account/keys", json={"name": "ci"}, headers={"api-key": KEY}).status_code == 201
    with app_at_0004.app_context():
        downgrade(revision="0004")
        with db.engine.connect() as connection:
            usernames = connection.execute(sa.text("SELECT username FROM authenticationkey")).scalars().all()
        assert usernames == ["Sumit", "Sumit"]  # the extra key went; the founding lineage stayed
        upgrade()
    assert client.post("/api/records", json={"value1": "z"}, headers={"api-key": KEY}).status_code == 201
