"""Rate limits: key creation per client IP, writes per key, other requests per client IP; 429 in our shape."""

import logging
import os
import socket

import pytest
import redis

from phoenix import create_app
from phoenix.hooks import before_every_request
from phoenix.models import AuthenticationKey, Record

LIMITS = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "memory://",
    "PHOENIX_RATELIMIT_KEYS": "3/hour",
    "PHOENIX_RATELIMIT_WRITES": "4/minute",
    "PHOENIX_RATELIMIT_READS": "5/minute",
}


@pytest.fixture
def app_config():
    return LIMITS


def from_address(address):
    """Test-client arguments for a request from another client address."""
    return {"environ_base": {"REMOTE_ADDR": address}}


def assert_limited(response, limit, description):
    """response is our 429: the error shape, Retry-After, and the X-RateLimit headers."""
    assert response.status_code == 429
    assert response.json == {
        "status": "failed",
        "message": f"Too many requests: the limit here is {description}. "
        "Try again after the seconds in Retry-After.",
        "code": "rate_limited",
        "request_id": response.headers["X-Request-ID"],
    }
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) > 0


def test_key_creation_is_limited_per_client_ip_across_its_routes(client, rows):
    assert client.post("/api/keys", json={"username": "one"}).status_code == 201
    assert client.get("/api/generate_key/two").status_code == 201
    last = client.post("/api/generate_key/three")
    assert last.status_code == 201
    assert last.headers["X-RateLimit-Remaining"] == "0"
    assert_limited(client.post("/api/keys", json={"username": "four"}), 3, "3 per 1 hour")
    assert_limited(client.get("/api/generate_key/five"), 3, "3 per 1 hour")
    assert [key.username for key in rows(AuthenticationKey)] == ["one", "two", "three"]
    # Another client is counted apart.
    assert client.post("/api/keys", json={"username": "six"}, **from_address("10.0.0.2")).status_code == 201


def test_failed_key_creations_count_too(client, rows):
    for _ in range(3):
        assert client.post("/api/keys", json={"username": "not valid!"}).status_code == 400
    assert client.post("/api/keys", json={"username": "valid"}).status_code == 429
    assert rows(AuthenticationKey) == []


class TestWrites:
    @pytest.fixture
    def app_config(self):
        return {**LIMITS, "PHOENIX_RATELIMIT_KEYS": "10/hour"}

    def test_writes_are_limited_per_key_whatever_the_route(self, client, make_key, rows):
        first, second = {"api-key": make_key("first")}, {"api-key": make_key("second")}
        assert client.post("/api/records", json={"value1": "a"}, headers=first).status_code == 201
        assert client.patch("/api/records/1", json={"value1": "b"}, headers=first).status_code == 200
        assert client.post("/api/create", json={"value1": "c"}, headers=first).status_code == 201
        assert client.delete("/api/records/2", headers=first).status_code == 200
        assert_limited(client.post("/api/records", json={"value1": "d"}, headers=first), 4, "4 per 1 minute")
        assert_limited(client.delete("/api/records/1", headers=first), 4, "4 per 1 minute")
        assert [r.value1 for r in rows(Record)] == ["b"]
        # Another key, from the same address, has a count of its own; reads have theirs.
        assert client.post("/api/records", json={"value1": "e"}, headers=second).status_code == 201
        assert client.get("/api/records").status_code == 200

    def test_rotating_does_not_start_a_fresh_count(self, client, make_key):
        old = {"api-key": make_key("rotator")}
        for _ in range(3):
            assert client.post("/api/records", json={"value1": "a"}, headers=old).status_code == 201
        rotated = client.post("/api/keys/me/rotate", headers=old)
        assert rotated.status_code == 201
        new = {"api-key": rotated.json["api_key"]}
        assert client.post("/api/records", json={"value1": "b"}, headers=new).status_code == 429


def test_reads_are_limited_per_client_ip(client):
    for _ in range(5):
        response = client.get("/api/records")
        assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert_limited(client.get("/api/games"), 5, "5 per 1 minute")
    assert_limited(client.get("/api/read/1"), 5, "5 per 1 minute")
    assert client.get("/api/records", **from_address("10.0.0.2")).status_code == 200


def test_writes_without_a_working_key_count_as_reads(client):
    guess = {"api-key": "phx_0123456789abcdef_" + "x" * 43}
    for _ in range(5):
        assert client.post("/api/records", json={"value1": "x"}, headers=guess).status_code == 401
    assert client.get("/api/records").status_code == 429


def test_health_checks_are_never_limited(client):
    for _ in range(8):
        assert client.get("/health").status_code == 200
        assert client.get("/health/ready").status_code == 200
    assert "X-RateLimit-Limit" not in client.get("/health").headers


def test_limits_can_be_turned_off(db_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, **LIMITS, "RATELIMIT_ENABLED": False})
    client = app.test_client()
    for _ in range(8):
        response = client.get("/api/records")
        assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers
    # Off means off: no limit hook runs before or after a request (the body is still read first).
    assert "limiter" not in app.extensions
    assert app.before_request_funcs[None] == [before_every_request]  # the body, the metrics timer


def test_limit_settings_come_from_the_environment(monkeypatch, db_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url})
    shared_file = "file://" + os.path.join(app.instance_path, "ratelimits.sqlite3")
    assert (app.config["RATELIMIT_ENABLED"], app.config["RATELIMIT_STORAGE_URI"]) == (True, shared_file)
    assert [app.config[f"PHOENIX_RATELIMIT_{name}"] for name in ("KEYS", "WRITES", "READS")] == [
        "10/hour",
        "6000/minute",
        "3000/minute",
    ]
    monkeypatch.setenv("PHOENIX_RATELIMIT_ENABLED", "0")
    monkeypatch.setenv("PHOENIX_RATELIMIT_WRITES", "20 per second")
    config = create_app({"SQLALCHEMY_DATABASE_URI": db_url}).config
    assert (config["RATELIMIT_ENABLED"], config["PHOENIX_RATELIMIT_WRITES"]) == (False, "20 per second")


@pytest.mark.parametrize(
    ("name", "value"), [("PHOENIX_RATELIMIT_READS", "lots"), ("PHOENIX_TRUSTED_PROXIES", "-1")]
)
def test_a_bad_limit_setting_stops_the_app_from_starting(monkeypatch, db_url, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=name):
        create_app({"SQLALCHEMY_DATABASE_URI": db_url})


class TestProxies:
    """The client address comes from X-Forwarded-For only through PHOENIX_TRUSTED_PROXIES hops."""

    def test_forwarded_for_is_ignored_by_default(self, client):
        # Otherwise any client could pick a fresh address for each request.
        for n in range(5):
            assert client.get("/api/records", headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code == 200
        assert client.get("/api/records", headers={"X-Forwarded-For": "192.0.2.99"}).status_code == 429

    @pytest.mark.parametrize("app_config", [{**LIMITS, "PHOENIX_TRUSTED_PROXIES": 1}])
    def test_forwarded_for_names_the_client_behind_a_trusted_proxy(self, client):
        behind_proxy = {"X-Forwarded-For": "192.0.2.1"}
        for _ in range(5):
            assert client.get("/api/records", headers=behind_proxy).status_code == 200
        assert client.get("/api/records", headers=behind_proxy).status_code == 429
        # The proxy (same socket address) forwards another client: counted apart.
        assert client.get("/api/records", headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 200
        # One hop trusted: only the address the proxy appended counts, not what the client wrote before it.
        spoofed = {"X-Forwarded-For": "203.0.113.7, 192.0.2.1"}
        assert client.get("/api/records", headers=spoofed).status_code == 429


def unused_port():
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "app_config", [{**LIMITS, "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{unused_port()}"}]
)
def test_an_unreachable_redis_fails_open_and_is_logged(client, rows, caplog):
    with caplog.at_level(logging.ERROR):
        created = client.post("/api/keys", json={"username": "unlimited"})
        for _ in range(6):
            assert client.get("/api/records").status_code == 200
    assert created.status_code == 201
    assert "X-RateLimit-Limit" not in created.headers
    assert [key.username for key in rows(AuthenticationKey)] == ["unlimited"]
    faults = [r for r in caplog.records if r.name == "flask-limiter" and r.levelno >= logging.ERROR]
    assert faults and all(issubclass(r.exc_info[0], redis.ConnectionError) for r in faults)


def test_redis_shares_one_count_between_apps(db_url, redis_url, redis_prefix):
    settings = {
        "SQLALCHEMY_DATABASE_URI": db_url,
        **LIMITS,
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": redis_prefix,
    }
    first, second = (create_app(settings).test_client() for _ in range(2))
    for n in range(5):
        assert (first if n % 2 else second).get("/api/records").status_code == 200
    assert first.get("/api/records").status_code == 429
    assert second.get("/api/records").status_code == 429
