"""flask keys create|rotate|revoke|list: the operator's key management."""

import re

import pytest

from phoenix.auth import KEY_REPLACED, KEY_REVOKED
from phoenix.models import AuthenticationKey

KEY = re.compile(r"phx_[0-9a-f]{16}_[0-9A-Za-z]{43}")


def create(runner, *args):
    """Run `flask keys create ...`; the key it printed."""
    result = runner.invoke(args=["keys", "create", *args])
    assert result.exit_code == 0, result.output
    assert KEY.fullmatch(result.stdout.strip()), result.stdout
    return result.stdout.strip()


def test_create_prints_the_key_alone_on_stdout_and_the_details_on_stderr(
    client, runner, rows, stored_anywhere
):
    result = runner.invoke(args=["keys", "create", "ops", "--expires-in-days", "30"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert KEY.fullmatch(key)
    [stored] = rows(AuthenticationKey)
    assert stored.username == "ops" and key.startswith(stored.prefix + "_")
    assert f"Created a key for ops: prefix {stored.prefix}, expires 20" in result.stderr
    assert stored.expires_at is not None
    assert stored_anywhere(key.rpartition("_")[2]) == []
    assert client.post("/api/records", json={"value1": "x"}, headers={"api-key": key}).status_code == 201


@pytest.mark.parametrize(
    ("args", "complaint"),
    [(["bad name"], "username: Use 1 to 64"), (["ops", "--expires-in-days", "0"], "expires_in_days")],
)
def test_create_refuses_what_the_api_refuses(runner, rows, args, complaint):
    result = runner.invoke(args=["keys", "create", *args])
    assert result.exit_code == 2
    assert complaint in result.output
    assert rows(AuthenticationKey) == []


def test_create_refuses_a_taken_username(runner, rows):
    create(runner, "ops")
    result = runner.invoke(args=["keys", "create", "OPS"])
    assert result.exit_code == 1
    assert "The username you are trying to register has been already used!" in result.output
    assert len(rows(AuthenticationKey)) == 1


def test_revoke_stops_the_key_and_keeps_the_name(client, runner, rows):
    key = create(runner, "ops")
    result = runner.invoke(args=["keys", "revoke", "OPS"])
    assert result.exit_code == 0, result.output
    assert "Revoked the key of ops" in result.output
    response = client.post("/api/records", json={"value1": "x"}, headers={"api-key": key})
    assert (response.status_code, response.json["message"]) == (401, KEY_REVOKED)
    assert "already revoked" in runner.invoke(args=["keys", "revoke", "ops"]).output
    assert client.post("/api/keys", json={"username": "ops"}).status_code == 409
    assert rows(AuthenticationKey)[0].state() == "revoked"


def test_revoke_of_an_unknown_username_fails(runner):
    result = runner.invoke(args=["keys", "revoke", "nobody"])
    assert result.exit_code == 1
    assert "No key has the username 'nobody'." in result.output


def test_rotate_brings_back_a_revoked_username(client, runner):
    old = create(runner, "ops")
    runner.invoke(args=["keys", "revoke", "ops"])
    result = runner.invoke(args=["keys", "rotate", "ops"])
    assert result.exit_code == 0, result.output
    new = result.stdout.strip()
    assert KEY.fullmatch(new)
    assert client.post("/api/records", json={"value1": "x"}, headers={"api-key": new}).status_code == 201
    response = client.post("/api/records", json={"value1": "x"}, headers={"api-key": old})
    assert (response.status_code, response.json["message"]) == (401, KEY_REPLACED)


def test_list_shows_every_key_and_no_secret(client, runner):
    first = create(runner, "ops")
    client.post("/api/keys/me/rotate", headers={"api-key": first})
    second = create(runner, "auditor")
    runner.invoke(args=["keys", "revoke", "auditor"])
    result = runner.invoke(args=["keys", "list"])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines()]
    assert lines[0] == ["username", "prefix", "state", "created_on", "last_used_at", "expires_at"]
    assert [(line[0], line[2]) for line in lines[1:]] == [
        ("auditor", "revoked"),
        ("ops", "replaced"),
        ("ops", "active"),
    ]
    assert lines[1][1] == second.rpartition("_")[0]
    for key in (first, second):
        assert key.rpartition("_")[2] not in result.output
