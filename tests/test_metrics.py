"""/metrics: off without PHOENIX_METRICS_TOKEN, behind it otherwise; counts by URL rule, summed over workers."""

import http.client
import os
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.servers import Gunicorn

TOKEN = "scrape-me-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def value(text, name, **labels):
    """The value of the sample name{labels} in a Prometheus text page; 0 when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


@pytest.fixture
def app_config(db_url):
    return {"PHOENIX_METRICS_TOKEN": TOKEN}


def scrape(client):
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


def test_metrics_are_404_without_a_token_configured(db_url):
    from phoenix import create_app

    client = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url}).test_client()
    for headers in ({}, BEARER):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert response.json["code"] == "not_found"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
def test_metrics_without_the_right_bearer_token_are_401(client, headers):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in response.get_data(as_text=True)


def test_requests_are_counted_by_url_rule_never_by_raw_path(client, auth):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/api/records/987654").status_code == 404
    assert client.get("/no/such/page-4242").status_code == 404
    after = scrape(client)
    route = {"method": "GET", "route": "/api/records/<id>", "status": "404"}
    assert (
        value(after, "phoenix_http_requests_total", **route)
        - value(before, "phoenix_http_requests_total", **route)
        == 3
    )
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert value(after, "phoenix_http_requests_total", **unmatched) >= 1
    assert (
        value(after, "phoenix_http_request_duration_seconds_count", method="GET", route="/api/records/<id>")
        >= 3
    )
    # No label carries a raw path (the id alone: a float sample may hold those six digits by chance).
    samples = [sample for family in text_string_to_metric_families(after) for sample in family.samples]
    labels = [label for sample in samples for label in sample.labels.values()]
    assert not [label for label in labels if "987654" in label or "page-4242" in label]
    assert "/api/records/987654" not in after and "page-4242" not in after


def test_failures_are_counted_by_code_and_replays_too(client, auth):
    before = scrape(client)
    assert client.post("/api/records", json={"value1": "x"}).status_code == 401
    assert (
        client.post("/api/records", json={"value1": "x"}, headers={"api-key": "phx_nope"}).status_code == 401
    )
    headers = {**auth, "Idempotency-Key": "once"}
    assert client.post("/api/records", json={"value1": "x"}, headers=headers).status_code == 201
    replayed = client.post("/api/records", json={"value1": "x"}, headers=headers)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("phoenix_failures_total", code="not_authenticated") == 2
    assert grew("phoenix_idempotent_replays_total") == 1
    assert grew("phoenix_db_pool_checkouts_total") >= 2
    assert auth["api-key"] not in after


def served_with_metrics(tmp_path, **settings):
    """The environment of a gunicorn Phoenix whose workers keep their counts in tmp_path/metrics."""
    return {
        "PHOENIX_METRICS_TOKEN": TOKEN,
        "PHOENIX_CONFIG": "production",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "PHOENIX_RATELIMIT_ENABLED": "0",
        **settings,
    }


def test_a_scrape_of_three_gunicorn_workers_sums_them_all(tmp_path):
    """Each request on a new connection lands on whichever worker accepts it; the count is the instance's."""
    folder = tmp_path / "metrics"
    env = served_with_metrics(tmp_path, WEB_CONCURRENCY="3")

    def workers_that_counted():
        return {name for name in os.listdir(folder) if name.startswith("counter_") and name.endswith(".db")}

    calls = 0
    with Gunicorn("wsgi:app", env=env, log_path=tmp_path / "gunicorn.log") as server:
        # Which worker accepts a new connection is the kernel's choice: go on until two have counted
        # (the first 60 requests nearly always suffice; at most 1,000).
        while calls < 60 or (len(workers_that_counted()) < 2 and calls < 1000):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request("GET", "/api/records/abc")
            assert connection.getresponse().status == 400
            connection.close()
            calls += 1
        request = urllib.request.Request(server.url + "/metrics", headers=BEARER)
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
    labels = {"method": "GET", "route": "/api/records/<id>", "status": "400"}
    assert value(text, "phoenix_http_requests_total", **labels) == calls
    assert value(text, "phoenix_failures_total", code="invalid_id") == calls
    assert len(workers_that_counted()) >= 2  # the requests were spread, and still all counted


def test_requests_waiting_for_a_turn_are_counted_and_shown_while_they_wait(tmp_path):
    """Two turns, four requests of a second each, then a scrape: the last two requests and the scrape
    waited (three waits), and by the time the scrape has its turn nobody is waiting."""
    env = served_with_metrics(tmp_path, WEB_CONCURRENCY="1", PHOENIX_ACTIVE_REQUESTS="2")
    with Gunicorn("tests.longpoll_app:app", env=env, log_path=tmp_path / "gunicorn.log") as server:
        busy = [
            threading.Thread(target=urllib.request.urlopen, args=(server.url + "/test/busy?seconds=1",))
            for _ in range(4)
        ]
        for thread in busy:
            thread.start()
        time.sleep(0.4)
        request = urllib.request.Request(server.url + "/metrics", headers=BEARER)
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        for thread in busy:
            thread.join(10)
    assert value(text, "phoenix_turn_waits_total") == 3
    assert value(text, "phoenix_requests_waiting_for_a_turn") == 0
