"""Who may change an item: PHOENIX_WRITE_POLICY=shared (any key with the write scope) or owner (the
username that created it, or a key with the operator-granted moderate scope)."""

import pytest

from phoenix.config import load_config
from phoenix.models import Game, Record

GAME = {"name": "Doom", "platform": "PC", "publisher": "id Software", "genre": "Shooter", "year": 1993}
NOT_OWNER = "Only alice, who created this {what}, or a key with the moderate scope may change or remove it."

# (method, url, body) of every route that changes or removes an item, the Project Phoenix ones included.
CHANGES = [
    ("patch", "/api/records/1", {"value1": "changed"}),
    ("put", "/api/records/1", {"value1": "changed"}),
    ("delete", "/api/records/1", None),
    ("patch", "/api/modify/1", {"value1": "changed"}),
    ("delete", "/api/remove/1", None),
    ("patch", "/api/games/1", {"year": 1994}),
    ("put", "/api/games/1", {**GAME, "year": 1994}),
    ("delete", "/api/games/1", None),
]


def send(client, method, url, body, key):
    kwargs = {"headers": {"api-key": key}}
    if body is not None:
        kwargs["json"] = body
    return getattr(client, method)(url, **kwargs)


@pytest.fixture
def alices_items(client, make_key):
    """Alice's key, after she created record 1 and game 1."""
    alice = make_key("alice")
    assert client.post("/api/records", json={"value1": "hers"}, headers={"api-key": alice}).status_code == 201
    assert client.post("/api/games", json=GAME, headers={"api-key": alice}).status_code == 201
    return alice


def unchanged(rows):
    """Whether alice's record and game are as she created them (and still there)."""
    records = [(record.value1, record.version) for record in rows(Record)]
    games = [(game.year, game.version) for game in rows(Game)]
    return (records, games) == ([("hers", 1)], [(1993, 1)])


class TestOwnerPolicy:
    @pytest.fixture
    def app_config(self):
        return {"PHOENIX_WRITE_POLICY": "owner"}

    @pytest.mark.parametrize(("method", "url", "body"), CHANGES)
    def test_another_users_change_is_403_not_owner(
        self, client, make_key, alices_items, rows, method, url, body
    ):
        bob = make_key("bob")
        response = send(client, method, url, body, bob)
        assert response.status_code == 403, response.json
        what = "game" if "games" in url else "record"
        assert response.json == {
            "status": "failed",
            "code": "not_owner",
            "message": NOT_OWNER.format(what=what),
            "request_id": response.headers["X-Request-ID"],
        }
        assert unchanged(rows)

    @pytest.mark.parametrize(("method", "url", "body"), CHANGES)
    def test_the_creators_change_succeeds_with_any_of_her_keys(
        self, client, alices_items, rows, method, url, body
    ):
        minted = client.post(
            "/api/account/keys",
            json={"name": "laptop", "scopes": ["records:write", "games:write"]},
            headers={"api-key": alices_items},
        ).json["api_key"]
        response = send(client, method, url, body, minted)
        assert response.status_code == 200, response.json
        assert not unchanged(rows)

    @pytest.mark.parametrize(("method", "url", "body"), CHANGES)
    def test_a_moderate_keys_change_succeeds(self, client, runner, alices_items, rows, method, url, body):
        result = runner.invoke(
            args=["keys", "create", "mod", "--scopes", "records:write,games:write,moderate"]
        )
        assert result.exit_code == 0, result.output
        response = send(client, method, url, body, result.stdout.strip())
        assert response.status_code == 200, response.json
        assert not unchanged(rows)
        if method != "delete":
            changed = rows(Game if "games" in url else Record)[0]
            assert (changed.lastmodifiedby, changed.createdby) == ("mod", "alice")

    def test_the_owner_is_the_creator_not_the_last_to_change_it(self, client, runner, alices_items, make_key):
        result = runner.invoke(args=["keys", "create", "mod", "--scopes", "records:write,moderate"])
        send(client, "patch", "/api/records/1", {"value1": "moderated"}, result.stdout.strip())
        assert send(client, "patch", "/api/records/1", {"value1": "again"}, alices_items).status_code == 200
        assert send(client, "patch", "/api/records/1", {"value1": "bob"}, make_key("bob")).status_code == 403

    def test_a_bulk_create_is_anyones_and_stamps_the_creator(self, client, make_key, rows):
        bob = make_key("bob")
        response = client.post(
            "/api/records", json=[{"value1": "a"}, {"value1": "b"}], headers={"api-key": bob}
        )
        assert response.status_code == 201
        assert {record.createdby for record in rows(Record)} == {"bob"}


class TestSharedPolicy:
    @pytest.mark.parametrize(("method", "url", "body"), CHANGES)
    def test_any_key_with_the_scope_changes_any_item(
        self, client, make_key, alices_items, rows, method, url, body
    ):
        response = send(client, method, url, body, make_key("bob"))
        assert response.status_code == 200, response.json
        assert not unchanged(rows)
        if method != "delete":
            changed = rows(Game if "games" in url else Record)[0]
            assert (changed.lastmodifiedby, changed.createdby) == ("bob", "alice")


def test_an_unknown_write_policy_stops_the_app_at_start(monkeypatch):
    monkeypatch.setenv("PHOENIX_WRITE_POLICY", "everyone")
    with pytest.raises(RuntimeError, match="PHOENIX_WRITE_POLICY must be one of shared, owner"):
        load_config("/tmp")
