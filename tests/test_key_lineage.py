"""Rotation with an overlap, lineages (a revoke stops every key rotated from it), no key that outlives its
maker, and the operator's `flask keys` commands for named, scoped keys."""

import re
import time
from datetime import datetime, timedelta

import pytest

from phoenix.auth import CONCURRENT_CHANGE, KEY_REPLACED, REVOKED_KEY_REFUSED
from phoenix.config import load_config
from phoenix.models import AuthenticationKey, utcnow

KEY = re.compile(r"phx_[0-9a-f]{16}_[0-9A-Za-z]{43}")


def signed(key):
    return {"api-key": key}


def write(client, key):
    """(status, message or None) of a signed create."""
    response = client.post("/api/records", json={"value1": "x"}, headers=signed(key))
    return response.status_code, response.json.get("message")


def cli_key(runner, *args):
    result = runner.invoke(args=["keys", "create", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_a_rotation_with_an_overlap_keeps_the_old_key_working_for_those_seconds_only(client, api_key, rows):
    rotated = client.post("/api/keys/me/rotate", json={"grace_seconds": 5}, headers=signed(api_key))
    assert rotated.status_code == 201, rotated.json
    new = rotated.json["api_key"]
    old_me = client.get("/api/keys/me", headers=signed(api_key))
    assert old_me.status_code == 200
    grace_until = datetime.fromisoformat(old_me.json["key"]["grace_until"])
    assert timedelta(seconds=4) < grace_until - utcnow() <= timedelta(seconds=5)
    assert client.get("/api/keys/me", headers=signed(new)).json["key"]["grace_until"] is None
    assert write(client, api_key)[0] == 201
    assert write(client, new)[0] == 201
    time.sleep(max(0.0, (grace_until - utcnow()).total_seconds()) + 0.2)
    assert write(client, api_key) == (401, KEY_REPLACED)
    assert client.get("/api/keys/me", headers=signed(api_key)).status_code == 401
    assert write(client, new)[0] == 201
    assert [row.state() for row in rows(AuthenticationKey)] == ["replaced", "active"]


def test_a_key_in_its_overlap_cannot_rotate_again(client, api_key):
    client.post("/api/keys/me/rotate", json={"grace_seconds": 60}, headers=signed(api_key))
    again = client.post("/api/keys/me/rotate", headers=signed(api_key))
    assert again.status_code == 409
    assert (again.json["message"], again.json["code"]) == (CONCURRENT_CHANGE, "conflict")


def test_revoking_either_key_of_an_overlap_stops_both(client, api_key, rows):
    new = client.post("/api/keys/me/rotate", json={"grace_seconds": 60}, headers=signed(api_key)).json[
        "api_key"
    ]
    assert client.delete("/api/keys/me", headers=signed(api_key)).status_code == 200
    assert write(client, api_key) == (401, REVOKED_KEY_REFUSED)
    assert write(client, new) == (401, REVOKED_KEY_REFUSED)
    assert all(row.revoked_at is not None for row in rows(AuthenticationKey))


@pytest.mark.parametrize("grace", [-1, 11, "5", 1.5, True])
def test_a_grace_period_out_of_bounds_is_400(client, api_key, rows, grace):
    client.application.config["PHOENIX_KEY_MAX_GRACE_SECONDS"] = 10
    response = client.post("/api/keys/me/rotate", json={"grace_seconds": grace}, headers=signed(api_key))
    assert response.status_code == 400, response.json
    assert list(response.json["errors"]) == ["grace_seconds"]
    assert [row.state() for row in rows(AuthenticationKey)] == ["active"]


@pytest.mark.parametrize("body", [None, {"expires_in_days": 3650}])
def test_a_rotation_cannot_extend_a_keys_life(client, runner, rows, body):
    key = cli_key(runner, "brief", "--expires-in-days", "1")
    kwargs = {"json": body} if body else {}
    rotated = client.post("/api/keys/me/rotate", headers=signed(key), **kwargs)
    assert rotated.status_code == 201, rotated.json
    old, new = rows(AuthenticationKey)
    assert new.expires_at == old.expires_at
    assert datetime.fromisoformat(rotated.json["expires_at"]) == old.expires_at
    # Rotating again and again does not creep the expiry forward either.
    again = client.post("/api/keys/me/rotate", headers=signed(rotated.json["api_key"]))
    assert rows(AuthenticationKey)[-1].expires_at == old.expires_at
    assert again.status_code == 201


def test_a_rotation_keeps_name_scopes_and_max_age(client, app, api_key, rows):
    app.config["PHOENIX_KEY_MAX_AGE_DAYS"] = 7
    minted = client.post(
        "/api/account/keys", json={"name": "ci", "scopes": ["games:write"]}, headers=signed(api_key)
    ).json["api_key"]
    rotated = client.post("/api/keys/me/rotate", headers=signed(minted)).json
    assert (rotated["name"], rotated["scopes"]) == ("ci", ["games:write"])
    assert datetime.fromisoformat(rotated["expires_at"]) <= utcnow() + timedelta(days=7)
    stored = [row for row in rows(AuthenticationKey) if row.name == "ci"]
    assert [row.state() for row in stored] == ["replaced", "active"]
    assert stored[0].lineage == stored[1].lineage


# --- flask keys, for named and scoped keys ---------------------------------------------------------


def test_create_with_name_and_scopes_and_another_key_for_a_taken_username(client, runner, rows):
    first = cli_key(runner, "ops")
    second = cli_key(runner, "OPS", "--name", "ci", "--scopes", "records:write")
    assert KEY.fullmatch(second)
    stored = {row.name: row for row in rows(AuthenticationKey)}
    assert (stored["ci"].username, stored["ci"].scopes) == ("ops", "records:write")
    assert write(client, second)[0] == 201
    response = client.post("/api/games", json={"name": "x"}, headers=signed(second))
    assert response.json["code"] == "missing_scope"
    assert write(client, first)[0] == 201


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["ops", "--scopes", "records:write,admin"], "Use some of records:write"),
        (["ops", "--name", "bad name"], "name: Use 1 to 64"),
    ],
)
def test_create_refuses_bad_names_and_scopes(runner, rows, args, complaint):
    result = runner.invoke(args=["keys", "create", *args])
    assert result.exit_code != 0
    assert complaint in result.output
    assert rows(AuthenticationKey) == []


def test_list_of_one_username_shows_last_use(client, runner):
    key = cli_key(runner, "ops")
    cli_key(runner, "other")
    write(client, key)
    result = runner.invoke(args=["keys", "list", "OPS"])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines()]
    assert [line[0] for line in lines[1:]] == ["ops"]
    assert lines[1][4] != "-"  # last_used_at


def test_revoke_by_prefix_stops_that_key_and_its_lineage_only(client, runner, rows):
    first = cli_key(runner, "ops")
    ci = cli_key(runner, "ops", "--name", "ci")
    rotated = client.post("/api/keys/me/rotate", json={"grace_seconds": 60}, headers=signed(ci)).json[
        "api_key"
    ]
    result = runner.invoke(args=["keys", "revoke", ci.rpartition("_")[0]])
    assert result.exit_code == 0, result.output
    assert write(client, ci) == (401, REVOKED_KEY_REFUSED)
    assert write(client, rotated) == (401, REVOKED_KEY_REFUSED)
    assert write(client, first)[0] == 201


def test_revoke_all_stops_every_key_of_a_username(client, runner, rows):
    keys = [
        cli_key(runner, "ops"),
        cli_key(runner, "ops", "--name", "ci"),
        cli_key(runner, "ops", "--name", "x"),
    ]
    bystander = cli_key(runner, "other")
    result = runner.invoke(args=["keys", "revoke", "Ops", "--all"])
    assert result.exit_code == 0, result.output
    for key in keys:
        assert write(client, key) == (401, REVOKED_KEY_REFUSED)
    assert write(client, bystander)[0] == 201
    assert client.post("/api/keys", json={"username": "ops"}).status_code == 409
    assert runner.invoke(args=["keys", "revoke", "nobody", "--all"]).exit_code == 1


def test_rotate_with_grace_by_prefix(client, runner):
    key = cli_key(runner, "ops", "--expires-in-days", "1")
    result = runner.invoke(args=["keys", "rotate", key.rpartition("_")[0], "--grace-seconds", "60"])
    assert result.exit_code == 0, result.output
    new = result.stdout.strip()
    assert write(client, key)[0] == 201
    assert write(client, new)[0] == 201
    bad = runner.invoke(args=["keys", "rotate", "ops", "--grace-seconds", "999999999"])
    assert bad.exit_code != 0
    assert "grace_seconds" in bad.output


def test_the_grace_limit_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("PHOENIX_KEY_MAX_GRACE_SECONDS", raising=False)
    assert load_config("/tmp")["PHOENIX_KEY_MAX_GRACE_SECONDS"] == 86400
    monkeypatch.setenv("PHOENIX_KEY_MAX_GRACE_SECONDS", "0")
    assert load_config("/tmp")["PHOENIX_KEY_MAX_GRACE_SECONDS"] == 0
    monkeypatch.setenv("PHOENIX_KEY_MAX_GRACE_SECONDS", "a day")
    with pytest.raises(RuntimeError, match="PHOENIX_KEY_MAX_GRACE_SECONDS must be a whole number"):
        load_config("/tmp")
