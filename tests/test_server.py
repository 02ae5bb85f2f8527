"""The HTTP server as deployed (gunicorn.conf.py, phoenix/server.py), over real sockets against real gunicorn:
slow clients cannot starve others, keep-alive, JSON from gunicorn itself, and restarts that cut nothing.

Every test is bounded: a fixed number of connections, a few seconds each.
"""

import http.client
import re
import signal
import socket
import sqlite3
import threading
import time

import orjson
import pytest
from flask_migrate import upgrade

from bench.servers import Gunicorn
from bench.slowclients import (
    keep_alive,
    make_key,
    normal_client_under_tricklers,
    sqlite_phoenix_env,
    timed_get,
)
from phoenix import create_app, turns
from phoenix.extensions import db

HEX_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def serve(tmp_path_factory, name, **env):
    folder = tmp_path_factory.mktemp(name)
    return Gunicorn(
        "wsgi:app", env={**sqlite_phoenix_env(folder), **env}, log_path=folder / "gunicorn.log"
    ), folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Phoenix as the Procfile and `make run` serve it: gunicorn.conf.py's defaults, on SQLite."""
    gunicorn, _ = serve(tmp_path_factory, "defaults")
    with gunicorn:
        yield gunicorn


@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    """The same with clients given 1 s to send a request (PHOENIX_CLIENT_TIMEOUT_S), and its SQLite file."""
    gunicorn, folder = serve(tmp_path_factory, "impatient", PHOENIX_CLIENT_TIMEOUT_S="1")
    with gunicorn:
        yield gunicorn, folder / "phoenix.sqlite3"


def exchange(port, data, timeout=5):
    """Send data on a new connection; (status, headers, body bytes, seconds) of what comes back before the
    server closes the connection or timeout passes."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(data)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    elapsed = time.monotonic() - started
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0] else None
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return status, headers, body, elapsed


def assert_json_failure(status, headers, body, expected_status, code):
    assert status == expected_status, body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    answer = orjson.loads(body)
    assert answer["status"] == "failed"
    assert answer["code"] == code
    assert answer["message"]
    assert headers["x-request-id"] == answer["request_id"]
    return answer


def test_others_are_answered_within_a_second_while_200_connections_trickle_headers_and_40_bodies(server):
    key = make_key(server.port)
    latencies = normal_client_under_tricklers(server.port, key, calls=10, headers=200, bodies=40)
    assert all(latency is not None and latency < 1 for latency in latencies), latencies


def test_a_client_too_slow_with_its_headers_gets_a_json_408(impatient):
    server, _ = impatient
    status, headers, body, elapsed = exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    answer = assert_json_failure(status, headers, body, 408, "request_timeout")
    assert HEX_REQUEST_ID.fullmatch(answer["request_id"])
    assert 0.9 < elapsed < 3, elapsed


def test_a_client_too_slow_with_its_body_gets_a_json_408_and_nothing_is_written(impatient):
    server, database = impatient
    key = make_key(server.port, "slowbody")
    request = (
        f"POST /api/records HTTP/1.1\r\nHost: x\r\napi-key: {key}\r\nContent-Type: application/json\r\n"
        'Content-Length: 40\r\nX-Request-ID: slow-body.1\r\n\r\n{"value1": "never fin'
    ).encode()
    status, headers, body, elapsed = exchange(server.port, request)
    answer = assert_json_failure(status, headers, body, 408, "request_timeout")
    assert 0.9 < elapsed < 3, elapsed
    assert answer["message"].startswith("The request was not received in time")
    assert answer["request_id"] == "slow-body.1"  # the client's own id, kept
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM record").fetchone()[0] == 0


def test_two_requests_go_over_one_kept_alive_connection(server):
    statuses, connection_header, reused = keep_alive(server.port)
    assert statuses == (200, 200)
    assert connection_header != "close"
    assert reused


def test_pipelined_requests_on_one_connection_are_both_answered(server):
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    _, _, body, _ = exchange(server.port, request + request, timeout=1)
    assert body.count(b"HTTP/1.1 200 OK") == 1  # the second answer, after the first's body
    assert body.count(b'"status":"success"') == 2


REFUSED = {
    "malformed request line": (b"NONSENSE\r\n\r\n", 400, "bad_request"),
    "bad HTTP version": (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"),
    "invalid header name": (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400, "bad_request"),
    "URL over the limit": (b"GET /api/records?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    "header over the limit": (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, "headers_too_large"),
    "too many headers": (
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(120)) + b"\r\n",
        431, "headers_too_large",
    ),
    "unsupported transfer coding": (
        b"POST /api/records HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n0\r\n\r\n",
        501, "not_implemented",
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", REFUSED)
def test_what_gunicorn_refuses_before_flask_is_json_in_our_shape(server, kind):
    request, expected_status, code = REFUSED[kind]
    status, headers, body, _ = exchange(server.port, request)
    answer = assert_json_failure(status, headers, body, expected_status, code)
    assert HEX_REQUEST_ID.fullmatch(answer["request_id"])
    assert headers["x-content-type-options"] == "nosniff"
    assert b"<html" not in body.lower()


@pytest.mark.postgresql_only
def test_fifty_long_polls_at_once_starve_no_one(blank_url, tmp_path):
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": blank_url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    env = {"DATABASE_URL": blank_url, "PHOENIX_RATELIMIT_ENABLED": "0"}
    with Gunicorn("tests.longpoll_app:app", env=env, log_path=tmp_path / "gunicorn.log") as server:
        polls = []

        def long_poll():
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
            connection.request("GET", "/test/wait?seconds=5")
            response = connection.getresponse()
            polls.append((response.status, orjson.loads(response.read())["polls"]))
            connection.close()

        waiters = [threading.Thread(target=long_poll) for _ in range(50)]
        for waiter in waiters:
            waiter.start()
        time.sleep(1)
        latencies = [timed_get(server.port, "/api/records?limit=5") for _ in range(8)]
        for waiter in waiters:
            waiter.join(20)
    assert all(latency is not None and latency < 1 for latency in latencies), latencies
    assert len(polls) == 50
    # Every poll ran on time: 5 s at one every 200 ms (and its query) is about 25, none held back.
    assert all(status == 200 and polls_made >= 15 for status, polls_made in polls), polls


class Load:
    """writers threads each sending GETs and POSTs, one a connection, until stopped: every outcome kept."""

    def __init__(self, port, key, writers=6):
        self.port = port
        self.key = key
        self.outcomes = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(writers)]

    def run(self, n):
        count = 0
        while not self.stopping.is_set():
            count += 1
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                if count % 2:
                    connection.request("GET", "/api/records?limit=5")
                else:
                    connection.request("POST", "/api/records", body=orjson.dumps({"value2": n}),
                                       headers={"api-key": self.key, "Content-Type": "application/json"})  # fmt: skip
                response = connection.getresponse()
                response.read()
                self.outcomes.append(response.status)
            except (OSError, http.client.HTTPException) as error:
                self.outcomes.append(repr(error))
            finally:
                connection.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(35)


def wait_for_new_workers(server, old, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = set(server.worker_pids())
        if pids and not pids & old and len(pids) >= server.workers:
            return pids
        time.sleep(0.2)
    raise AssertionError(f"workers {old} were not replaced within {timeout} s")


def test_sighup_under_load_cuts_no_request_and_answers_no_5xx(tmp_path_factory):
    gunicorn, folder = serve(tmp_path_factory, "sighup")
    with gunicorn as server:
        key = make_key(server.port, "reloader")
        with Load(server.port, key) as load:
            time.sleep(1)
            old = set(server.worker_pids())
            server.process.send_signal(signal.SIGHUP)  # a rolling restart of every worker
            wait_for_new_workers(server, old)
            time.sleep(1)
        assert load.outcomes
        assert set(load.outcomes) <= {200, 201}, [o for o in load.outcomes if o not in (200, 201)][:5]
        created = load.outcomes.count(201)
    with sqlite3.connect(folder / "phoenix.sqlite3") as connection:
        assert connection.execute("SELECT count(*) FROM record").fetchone()[0] == created


def test_sigterm_lets_requests_in_flight_finish(tmp_path_factory):
    gunicorn, folder = serve(tmp_path_factory, "sigterm")
    server = gunicorn.start()
    try:
        key = make_key(server.port, "leaver")
        body = orjson.dumps({"value1": "sent slowly"})
        head = (
            f"POST /api/records HTTP/1.1\r\nHost: x\r\napi-key: {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        connections = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(5)]
        for connection in connections:
            connection.sendall(head + body[:5])  # in flight: the body half sent
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1)
        answers = []
        for connection in connections:
            connection.sendall(body[5:])
            answers.append(connection.recv(65536))
            connection.close()
        assert all(answer.startswith(b"HTTP/1.1 201 ") for answer in answers), answers
        assert server.process.wait(15) == 0
    finally:
        server.stop()
    with sqlite3.connect(folder / "phoenix.sqlite3") as connection:
        assert connection.execute("SELECT count(*) FROM record").fetchone()[0] == 5


def test_a_client_pipelining_many_requests_holds_up_no_other_on_its_worker(tmp_path_factory):
    """One worker: a client sends 1,000 requests at once on one kept-alive connection, and another client
    sends one request just after. The worker takes turns (PhoenixWorker.handle_request yields after each
    answer), so the other client's answer comes long before the first client's last one."""
    gunicorn, _ = serve(tmp_path_factory, "greedy", WEB_CONCURRENCY="1", PHOENIX_RATELIMIT_ENABLED="0")
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    with gunicorn, socket.create_connection(("127.0.0.1", gunicorn.port), timeout=10) as greedy:
        done = {}

        def read_all_answers():
            received = b""
            while received.count(b'"status":"success"') < 1000:
                chunk = greedy.recv(65536)
                if not chunk:
                    break
                received += chunk
            done["greedy"] = time.monotonic()
            done["greedy answers"] = received.count(b'"status":"success"')

        reader = threading.Thread(target=read_all_answers)
        reader.start()
        greedy.sendall(request * 1000)
        status, _, body, _ = exchange(
            gunicorn.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        done["other"] = time.monotonic()
        reader.join(20)
    assert status == 200 and orjson.loads(body)["status"] == "success"
    assert done["greedy answers"] == 1000
    assert done["other"] < done["greedy"]


def at_once(count, call):
    """Start count threads, each running call(); return what waits for them (15 s at most each)."""
    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()

    def wait():
        for thread in threads:
            thread.join(15)

    return wait


def get_json(port, path, timeout=10):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        connection.close()


def test_a_worker_works_on_as_many_requests_at_once_as_it_has_turns_and_answers_every_one(tmp_path_factory):
    folder = tmp_path_factory.mktemp("turns")
    env = {**sqlite_phoenix_env(folder), "WEB_CONCURRENCY": "1", "PHOENIX_ACTIVE_REQUESTS": "2"}
    with Gunicorn("tests.longpoll_app:app", env=env, log_path=folder / "gunicorn.log") as server:
        answers = []
        started = time.monotonic()
        at_once(8, lambda: answers.append(get_json(server.port, "/test/busy?seconds=0.3")))()
        took = time.monotonic() - started
    assert len(answers) == 8 and all(status == 200 for status, _ in answers), answers
    # Eight requests of 0.3 s, two at a time: four rounds, never a third request in a handler.
    assert max(body["most"] for _, body in answers) == 2
    assert took >= 1.1, took


def test_long_polls_on_the_changes_feed_set_their_turn_aside(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feed-turns")
    env = {**sqlite_phoenix_env(folder), "WEB_CONCURRENCY": "1", "PHOENIX_ACTIVE_REQUESTS": "1"}
    with Gunicorn("wsgi:app", env=env, log_path=folder / "gunicorn.log") as server:
        polls = []
        waiting = at_once(5, lambda: polls.append(get_json(server.port, "/api/changes?wait=3")))
        time.sleep(0.5)
        # One turn, five long polls waiting: a read still goes through at once.
        latencies = [timed_get(server.port, "/api/records?limit=5") for _ in range(4)]
        waiting()
    assert all(latency is not None and latency < 1 for latency in latencies), latencies
    assert len(polls) == 5 and all(status == 200 and body["changes"] == [] for status, body in polls), polls


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_active_requests_setting_is_refused(monkeypatch, value):
    monkeypatch.setenv("PHOENIX_ACTIVE_REQUESTS", value)
    with pytest.raises(RuntimeError, match="PHOENIX_ACTIVE_REQUESTS must be a whole number of at least 1"):
        turns.turns_setting()


def test_active_requests_default_to_four(monkeypatch):
    monkeypatch.delenv("PHOENIX_ACTIVE_REQUESTS", raising=False)
    assert turns.turns_setting() == 4
