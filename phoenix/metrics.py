"""/metrics: Prometheus counts of requests, latency, failures by code, the database pool and replays.

Under gunicorn every worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py
makes and empties it when the master starts, and marks dead workers), and a scrape of any worker sums
them all: the numbers are the instance's, not one worker's. Without that variable (tests, `flask run`)
the counts are this process's own.

Series are labelled by URL rule (`/api/records/<id>`), never by the raw path, so that their number stays
bounded whatever clients send.
"""

import os
import time

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event

from phoenix.extensions import db

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # the route label of a request that matched no URL rule (a 404)

REQUESTS = Counter(
    "phoenix_http_requests",
    "Requests answered, by method, URL rule and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "phoenix_http_request_duration_seconds",
    "Time from the start of the request's handling to its answer, by method and URL rule.",
    ["method", "route"],
    # Few buckets: each one is a value to write per request and a series per route.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
FAILURES = Counter(
    "phoenix_failures",
    "Failures answered, by code (database_unavailable: 503s; rate_limited: 429s; not_authenticated, "
    "key_revoked, key_expired, key_rotated: 401s by reason).",
    ["code"],
)
REPLAYS = Counter("phoenix_idempotent_replays", "Creates answered from a stored Idempotency-Key answer.")
WAITING_FOR_A_TURN = Gauge(
    "phoenix_requests_waiting_for_a_turn",
    "Requests whose body is in, waiting now for a turn of their worker (PHOENIX_ACTIVE_REQUESTS).",
    multiprocess_mode="livesum",
)
TURN_WAITS = Counter(
    "phoenix_turn_waits",
    "Requests that found every turn of their worker taken, and waited for one.",
)
POOL_IN_USE = Gauge(
    "phoenix_db_pool_connections_in_use",
    "Database connections checked out of the workers' pools now.",
    multiprocess_mode="livesum",
)
POOL_CHECKOUTS = Counter("phoenix_db_pool_checkouts", "Connections taken from the pool.")
POOL_WAITS = Counter(
    "phoenix_db_pool_waits",
    "Checkouts that found every pooled connection busy (so opened an overflow connection or waited).",
)


def start_timer(state):
    """Note on state (the request's flask.g) when its handling began (phoenix.hooks, before any other)."""
    state.metrics_started = time.perf_counter()


# The labelled series of each (method, route, status), looked up once per process: labels() costs more
# than the increment itself (measured: README, "Metrics").
SERIES = {}


def series(method, route, status):
    """The request counter and latency histogram of one (method, route, status)."""
    key = (method, route, status)
    found = SERIES.get(key)
    if found is None:
        found = SERIES[key] = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
    return found


def count_request(response, current, state):
    """Count the answered request (current, whose flask.g is state) by method, URL rule and status, and
    observe its latency."""
    rule = current.url_rule
    method = current.method
    count, latency = series(
        method if method in KNOWN_METHODS else "other",
        rule.rule if rule is not None else UNMATCHED,
        response.status_code,
    )
    count.inc()
    noted = state.__dict__  # the three below, each a dict lookup
    started = noted.get("metrics_started")
    if started is not None:
        latency.observe(time.perf_counter() - started)
    code = noted.get("failure_code")  # set by phoenix.errors.failure
    if code is not None:
        FAILURES.labels(code).inc()
    if noted.get("idempotent_replay"):  # set by phoenix.idempotency.replay
        REPLAYS.inc()


def watch_pool(engine):
    """Keep the pool gauges and counters from SQLAlchemy's checkout and checkin events."""
    pool = engine.pool

    @event.listens_for(engine, "checkout")
    def checked_out(dbapi_connection, record, proxy):
        POOL_CHECKOUTS.inc()
        POOL_IN_USE.inc()
        size = getattr(pool, "size", None)
        if callable(size) and pool.checkedout() > size():
            POOL_WAITS.inc()

    @event.listens_for(engine, "checkin")
    def checked_in(dbapi_connection, record):
        POOL_IN_USE.dec()


def scrape():
    """The metrics in Prometheus' text format: every worker's, summed, under gunicorn."""
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def register_metrics(app):
    """Watch app's database pool (phoenix.hooks times and counts every request)."""
    with app.app_context():
        watch_pool(db.engine)
