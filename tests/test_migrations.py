"""Migration 0003: plaintext keys become a prefix and a digest, and the keys issued before keep working."""

import hashlib

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from phoenix import create_app
from phoenix.extensions import db
from phoenix.models import AuthenticationKey

# What the authenticationkey.key column held: Phoenix's own keys, and the original Project Phoenix's.
OLD_KEYS = {"sumit": "DkRK_9RTkFfH7sFwqBcaqD3TJJaURfLw", "Falcon": "1S-37823MlH3stph2uTYvA"}


@pytest.fixture
def old_app(blank_url, storage_search):
    """An app on a database built to revision 0001 and holding OLD_KEYS in plaintext, as before hashing."""
    settings = {"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": blank_url, "RATELIMIT_ENABLED": False}
    app = create_app(settings)
    with app.app_context():
        upgrade(revision="0001")
        with db.engine.begin() as connection:
            for username, key in OLD_KEYS.items():
                connection.execute(
                    sa.text(
                        "INSERT INTO authenticationkey (username, key, created_on)"
                        " VALUES (:username, :key, CURRENT_TIMESTAMP)"
                    ),
                    {"username": username, "key": key},
                )
        # The search must see a plaintext key before the upgrade, or "nowhere" after it proves nothing.
        before = storage_search(db.engine, OLD_KEYS["sumit"])
        assert "authenticationkey.key" in before
        assert any(place.startswith("file: ") for place in before)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def schema_sql(connection, name):
    """How the database describes a table or an index: SQLite's CREATE statement, PostgreSQL's indexdef."""
    if connection.dialect.name == "sqlite":
        query = "SELECT sql FROM sqlite_master WHERE name = :name"
    else:
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    return connection.execute(sa.text(query), {"name": name}).scalar()


def test_upgrade_leaves_no_plaintext_and_the_old_keys_still_work(old_app, storage_search):
    with old_app.app_context():
        upgrade()
        stored = db.session.scalars(sa.select(AuthenticationKey).order_by(AuthenticationKey.id)).all()
        assert [(row.id, row.username) for row in stored] == [(1, "sumit"), (2, "Falcon")]
        for row, key in zip(stored, OLD_KEYS.values(), strict=True):
            secret_digest = hashlib.sha256(key.encode()).hexdigest()
            assert (row.prefix, row.secret_hash) == ("legacy_" + secret_digest[:16], secret_digest)
            assert row.state() == "active"
            assert storage_search(db.engine, key) == []
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("authenticationkey")}
        assert "key" not in columns

    client = old_app.test_client()
    for username, key in OLD_KEYS.items():
        response = client.post("/api/records", json={"value1": "still here"}, headers={"api-key": key})
        assert response.status_code == 201, response.json
        assert response.json["record"]["lastmodifiedby"] == username
        own = client.get("/api/keys/me", headers={"api-key": key})
        assert own.json["key"]["prefix"].startswith("legacy_")
    assert client.post("/api/keys", json={"username": "FALCON"}).status_code == 409

    # An old key rotates into a new-style one like any other.
    rotated = client.post("/api/keys/me/rotate", headers={"api-key": OLD_KEYS["sumit"]})
    assert rotated.status_code == 201
    assert rotated.json["api_key"].startswith("phx_")
    assert client.get("/api/keys/me", headers={"api-key": OLD_KEYS["sumit"]}).status_code == 401


def test_upgrade_keeps_ids_autoincrement_and_makes_the_username_index_partial(old_app):
    with old_app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            index = schema_sql(connection, "uq_authenticationkey_username_lower")
            assert "lower(" in index and "username" in index
            assert "replaced_at IS NULL" in index
            if connection.dialect.name == "sqlite":
                assert "AUTOINCREMENT" in schema_sql(connection, "authenticationkey")
    key = old_app.test_client().post("/api/keys", json={"username": "newcomer"})
    assert key.status_code == 201
    with old_app.app_context():
        query = sa.select(AuthenticationKey.id).where(AuthenticationKey.username == "newcomer")
        assert db.session.scalar(query) == 3


def test_downgrade_goes_back_to_0001_with_every_key_stopped(old_app):
    with old_app.app_context():
        upgrade()
        downgrade(revision="0001")
        with db.engine.connect() as connection:
            query = sa.text("SELECT username, key FROM authenticationkey ORDER BY id")
            rows = connection.execute(query).all()
        assert [username for username, _ in rows] == list(OLD_KEYS)
        assert not {key for _, key in rows} & set(OLD_KEYS.values())
        upgrade()
    client = old_app.test_client()
    response = client.post("/api/records", json={"value1": "x"}, headers={"api-key": OLD_KEYS["sumit"]})
    assert response.status_code == 401
