"""Named keys with scopes: scopes on every write, /api/account/keys, no key wider or longer-lived than its
maker, limits per username."""

from datetime import UTC, datetime, timedelta

import pytest

from phoenix import create_app
from phoenix.auth import REVOKED_KEY_REFUSED
from phoenix.models import AuthenticationKey, Game, IdempotentRequest, Record, utcnow

ALL_BUT_MODERATE = ["records:write", "games:write", "keys:manage"]
GAME = {"name": "Doom", "platform": "PC", "publisher": "id Software", "genre": "Shooter", "year": 1993}


def signed(key):
    return {"api-key": key}


@pytest.fixture
def mint(client):
    """POST /api/account/keys with maker's key: the new key (asserting a 201)."""

    def make(maker, name, scopes=None, **more):
        body = {"name": name, **more}
        if scopes is not None:
            body["scopes"] = scopes
        response = client.post("/api/account/keys", json=body, headers=signed(maker))
        assert response.status_code == 201, response.json
        return response.json["api_key"]

    return make


@pytest.fixture
def records_only(api_key, mint):
    """A key of "tester" that may write records and nothing else."""
    return mint(api_key, "records-script", ["records:write"])


def assert_missing_scope(response, scope):
    assert response.status_code == 403, response.json
    assert response.json == {
        "status": "failed",
        "code": "missing_scope",
        "message": f"This API key lacks the {scope} scope that this call needs: use a key that has it.",
        "request_id": response.headers["X-Request-ID"],
    }
    assert response.headers["X-Accepted-Scopes"] == scope


def test_a_records_only_key_writes_records_on_every_route(client, records_only, rows):
    key = signed(records_only)
    created = client.post("/api/records", json={"value1": "one"}, headers=key)
    assert created.status_code == 201, created.json
    bulk = client.post("/api/records", json=[{"value1": "two"}, {"value1": "three"}], headers=key)
    assert bulk.status_code == 201, bulk.json
    replayed = {**key, "Idempotency-Key": "once"}
    assert client.post("/api/records", json={"value1": "four"}, headers=replayed).status_code == 201
    assert client.post("/api/records", json={"value1": "four"}, headers=replayed).status_code == 201
    legacy = client.post("/api/create", json={"value1": "five"}, headers=key)
    assert legacy.status_code == 201, legacy.json
    record_id = created.json["record"]["id"]
    assert client.put(f"/api/records/{record_id}", json={"value2": 2.0}, headers=key).status_code == 200
    assert client.patch(f"/api/records/{record_id}", json={"value3": True}, headers=key).status_code == 200
    assert client.patch("/api/modify/2", json={"value1": "two!"}, headers=key).status_code == 200
    assert client.delete("/api/remove/3", headers=key).status_code == 200
    assert client.delete(f"/api/records/{record_id}", headers=key).status_code == 200
    stored = rows(Record)
    assert [(r.id, r.value1) for r in stored] == [(2, "two!"), (4, "four"), (5, "five")]
    assert {(r.lastmodifiedby, r.createdby) for r in stored} == {("tester", "tester")}


def test_a_records_only_key_is_403_missing_scope_on_games(client, api_key, records_only, rows):
    game_id = client.post("/api/games", json=GAME, headers=signed(api_key)).json["game"]["id"]
    key = signed(records_only)
    assert_missing_scope(client.post("/api/games", json=GAME, headers=key), "games:write")
    assert_missing_scope(client.post("/api/games", json=[GAME], headers=key), "games:write")
    idempotent = {**key, "Idempotency-Key": "g1"}
    assert_missing_scope(client.post("/api/games", json=GAME, headers=idempotent), "games:write")
    assert_missing_scope(client.put(f"/api/games/{game_id}", json=GAME, headers=key), "games:write")
    assert_missing_scope(
        client.patch(f"/api/games/{game_id}", json={"year": 1994}, headers=key), "games:write"
    )
    assert_missing_scope(client.delete(f"/api/games/{game_id}", headers=key), "games:write")
    [game] = rows(Game)
    assert (game.year, game.version) == (1993, 1)
    assert rows(IdempotentRequest) == []


def test_a_games_only_key_is_403_on_the_project_phoenix_record_routes(client, api_key, mint, rows):
    client.post("/api/records", json={"value1": "mine"}, headers=signed(api_key))
    key = signed(mint(api_key, "games-script", ["games:write"]))
    assert_missing_scope(client.post("/api/create", json={"value1": "x"}, headers=key), "records:write")
    assert_missing_scope(client.patch("/api/modify/1", json={"value1": "x"}, headers=key), "records:write")
    assert_missing_scope(client.delete("/api/remove/1", headers=key), "records:write")
    assert [(r.value1, r.version) for r in rows(Record)] == [("mine", 1)]


def test_a_records_only_key_is_403_on_key_management(client, api_key, records_only, rows):
    prefix = client.get("/api/keys/me", headers=signed(api_key)).json["key"]["prefix"]
    key = signed(records_only)
    assert_missing_scope(client.get("/api/account/keys", headers=key), "keys:manage")
    assert_missing_scope(client.post("/api/account/keys", json={"name": "more"}, headers=key), "keys:manage")
    assert_missing_scope(client.delete(f"/api/account/keys/{prefix}", headers=key), "keys:manage")
    assert len(rows(AuthenticationKey)) == 2
    assert all(row.revoked_at is None for row in rows(AuthenticationKey))


def test_any_key_reads_rotates_and_revokes_itself_whatever_its_scopes(client, records_only, rows):
    me = client.get("/api/keys/me", headers=signed(records_only))
    assert me.status_code == 200
    assert me.headers["Cache-Control"] == "no-store"
    assert (me.json["key"]["name"], me.json["key"]["scopes"]) == ("records-script", ["records:write"])
    rotated = client.post("/api/keys/me/rotate", headers=signed(records_only))
    assert rotated.status_code == 201, rotated.json
    assert (rotated.json["name"], rotated.json["scopes"]) == ("records-script", ["records:write"])
    revoked = client.delete("/api/keys/me", headers=signed(rotated.json["api_key"]))
    assert revoked.status_code == 200
    assert revoked.json["key"]["state"] == "revoked"
    assert {row.name: row.state() for row in rows(AuthenticationKey) if row.name != "default"} == {
        "records-script": "revoked"
    }


@pytest.mark.parametrize(
    ("maker_scopes", "asked", "lacking"),
    [
        (["records:write", "keys:manage"], ["games:write"], "games:write"),
        (["records:write", "keys:manage"], ["records:write", "keys:manage", "games:write"], "games:write"),
        (ALL_BUT_MODERATE, ["moderate"], "moderate"),
    ],
)
def test_a_key_cannot_mint_a_key_wider_than_itself(client, api_key, mint, rows, maker_scopes, asked, lacking):
    maker = mint(api_key, "manager", maker_scopes)
    response = client.post(
        "/api/account/keys", json={"name": "wider", "scopes": asked}, headers=signed(maker)
    )
    assert response.status_code == 403
    assert response.json == {
        "status": "failed",
        "code": "missing_scope",
        "message": f"A key cannot give what it lacks: this API key has no {lacking} scope.",
        "request_id": response.headers["X-Request-ID"],
    }
    assert response.headers["X-Accepted-Scopes"] == lacking
    assert sorted(row.name for row in rows(AuthenticationKey)) == ["default", "manager"]


def test_a_minted_key_without_scopes_gets_the_makers_but_never_moderate(client, runner, mint):
    result = runner.invoke(args=["keys", "create", "mod", "--scopes", "keys:manage,records:write,moderate"])
    assert result.exit_code == 0, result.output
    minted = mint(result.stdout.strip(), "child")
    me = client.get("/api/keys/me", headers=signed(minted)).json["key"]
    assert me["scopes"] == ["records:write", "keys:manage"]


def test_a_minted_key_expires_no_later_than_its_maker(client, runner, mint, rows):
    result = runner.invoke(args=["keys", "create", "brief", "--expires-in-days", "1"])
    assert result.exit_code == 0, result.output
    maker = result.stdout.strip()
    mint(maker, "longer", expires_in_days=3650)
    mint(maker, "default-lifetime")
    keys = {row.name: row for row in rows(AuthenticationKey)}
    assert keys["longer"].expires_at == keys["default"].expires_at
    assert keys["default-lifetime"].expires_at == keys["default"].expires_at
    assert keys["default"].expires_at <= utcnow() + timedelta(days=1)


def test_the_owner_lists_every_key_newest_first_and_no_secret_anywhere(
    client, api_key, mint, stored_anywhere
):
    laptop = mint(api_key, "laptop", ["records:write"])
    ci = mint(api_key, "ci", ["games:write"], expires_in_days=30)
    response = client.get("/api/account/keys", headers=signed(api_key))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    keys = response.json["keys"]
    assert [(k["name"], k["scopes"], k["state"]) for k in keys] == [
        ("ci", ["games:write"], "active"),
        ("laptop", ["records:write"], "active"),
        ("default", ALL_BUT_MODERATE, "active"),
    ]
    assert {k["username"] for k in keys} == {"tester"}
    assert keys[0]["prefix"] == ci.rpartition("_")[0]
    assert datetime.fromisoformat(keys[0]["expires_at"]) > datetime.now(UTC) + timedelta(days=29)
    text = response.get_data(as_text=True)
    for key in (api_key, laptop, ci):
        secret = key.rpartition("_")[2]
        assert secret not in text
        assert stored_anywhere(secret) == []


def test_another_users_keys_are_not_listed(client, api_key, make_key):
    make_key("bob")
    keys = client.get("/api/account/keys", headers=signed(api_key)).json["keys"]
    assert [k["username"] for k in keys] == ["tester"]


def test_revoke_by_prefix_stops_that_key_only(client, api_key, mint, rows):
    ci = mint(api_key, "ci")
    prefix = ci.rpartition("_")[0]
    response = client.delete(f"/api/account/keys/{prefix}", headers=signed(api_key))
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    assert (response.json["key"]["prefix"], response.json["key"]["state"]) == (prefix, "revoked")
    refused = client.post("/api/records", json={"value1": "x"}, headers=signed(ci))
    assert (refused.status_code, refused.json["message"]) == (401, REVOKED_KEY_REFUSED)
    assert client.post("/api/records", json={"value1": "x"}, headers=signed(api_key)).status_code == 201
    assert {row.name: row.state() for row in rows(AuthenticationKey)} == {
        "default": "active",
        "ci": "revoked",
    }


@pytest.mark.parametrize("whose", ["another user's", "unknown", "not a prefix", "a NUL"])
def test_revoke_of_a_prefix_not_of_your_username_is_404(client, api_key, make_key, rows, whose):
    bob = make_key("bob")
    prefix = {
        "another user's": bob.rpartition("_")[0],
        "unknown": "phx_0123456789abcdef",
        "not a prefix": "default",
        "a NUL": "phx_%00",
    }[whose]
    response = client.delete(f"/api/account/keys/{prefix}", headers=signed(api_key))
    assert response.status_code == 404
    assert response.json == {
        "status": "failed",
        "code": "not_found",
        "message": "Your username has no key with this prefix.",
        "request_id": response.headers["X-Request-ID"],
    }
    assert all(row.revoked_at is None for row in rows(AuthenticationKey))
    assert client.post("/api/records", json={"value1": "x"}, headers=signed(bob)).status_code == 201


def test_a_name_taken_by_a_working_key_is_409_and_free_again_after_its_revoke(client, api_key, mint, rows):
    ci = mint(api_key, "ci")
    response = client.post("/api/account/keys", json={"name": "ci"}, headers=signed(api_key))
    assert response.status_code == 409
    assert response.json["code"] == "conflict"
    assert "already named 'ci'" in response.json["message"]
    client.delete(f"/api/account/keys/{ci.rpartition('_')[0]}", headers=signed(api_key))
    mint(api_key, "ci")
    assert sorted(row.name for row in rows(AuthenticationKey)) == ["ci", "ci", "default"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "ok", "scopes": ["admin"]}, "scopes"),
        ({"name": "ok", "scopes": []}, "scopes"),
        ({"name": "ok", "scopes": "records:write"}, "scopes"),
        ({"name": "ok", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "ok", "secret": "x"}, "secret"),
    ],
)
def test_a_bad_key_request_is_400_naming_the_field(client, api_key, rows, body, field):
    response = client.post("/api/account/keys", json=body, headers=signed(api_key))
    assert response.status_code == 400, response.json
    assert list(response.json["errors"]) == [field]
    assert len(rows(AuthenticationKey)) == 1


class TestLimitsPerUsername:
    @pytest.fixture
    def app_config(self):
        return {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "PHOENIX_RATELIMIT_WRITES": "4/minute",
        }

    def test_more_keys_add_no_quota(self, client, api_key, mint, rows):
        other = mint(api_key, "second")  # a signed POST: the first of the username's 4 writes
        assert client.post("/api/records", json={"value1": "1"}, headers=signed(api_key)).status_code == 201
        assert client.post("/api/records", json={"value1": "2"}, headers=signed(other)).status_code == 201
        assert client.post("/api/records", json={"value1": "3"}, headers=signed(api_key)).status_code == 201
        refused = client.post("/api/records", json={"value1": "4"}, headers=signed(other))
        assert refused.status_code == 429
        assert len(rows(Record)) == 3


def test_the_spec_names_the_scope_of_every_operation_that_needs_one(client):
    paths = client.get("/api/openapi.json").json["paths"]
    scopes = {
        (path, method): operation.get("x-required-scopes")
        for path, methods in paths.items()
        for method, operation in methods.items()
        if "security" in operation
    }
    for method in ("put", "patch", "delete"):
        assert scopes[("/api/records/{id}", method)] == ["records:write"]
        assert scopes[("/api/games/{id}", method)] == ["games:write"]
    assert scopes[("/api/records", "post")] == ["records:write"]
    assert scopes[("/api/games", "post")] == ["games:write"]
    assert scopes[("/api/create", "post")] == scopes[("/api/modify/{id}", "patch")] == ["records:write"]
    assert scopes[("/api/account/keys", "get")] == scopes[("/api/account/keys/{prefix}", "delete")]
    assert scopes[("/api/account/keys", "post")] == ["keys:manage"]
    # Any working key may read, rotate and revoke itself.
    assert scopes[("/api/keys/me", "get")] is None
    assert scopes[("/api/keys/me/rotate", "post")] is None
    refusal = paths["/api/games/{id}"]["patch"]["responses"]["403"]
    assert "X-Accepted-Scopes" in refusal["headers"]
    assert "not_owner" in refusal["description"]
    assert "not_owner" not in paths["/api/games"]["post"]["responses"]["403"]["description"]


def test_a_browser_app_may_read_x_accepted_scopes(db_url, monkeypatch, records_only):
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example")
    browser = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url}).test_client()
    response = browser.post(
        "/api/games", json=GAME, headers={"Origin": "https://app.example", **signed(records_only)}
    )
    assert response.status_code == 403
    exposed = {name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert "X-Accepted-Scopes" in exposed
