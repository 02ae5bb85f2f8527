"""Rate limits (Flask-Limiter): key creation per client IP, writes per key, other requests per client IP.

Every request counts against one limit at most:
- "keys": POST /api/keys and /api/generate_key/<username>, per client IP (PHOENIX_RATELIMIT_KEYS);
- "writes": POST, PUT, PATCH and DELETE signed with a working key, per key holder
  (PHOENIX_RATELIMIT_WRITES; by username, so that rotating a key does not start a fresh count);
- "reads": everything else, per client IP (PHOENIX_RATELIMIT_READS): reads, and writes without a
  working key, which are refused with 401 but still cost a lookup; a list request counts as several
  reads in proportion to its cost (phoenix.listing.read_cost: a large page, a search, a count);
- none: /health and /health/ready, so that a load balancer's probes are never refused.

The writes limit counts items: a bulk create of 500 costs 500. The key-creation limit is not used up
by our own failures (5xx). PHOENIX_QUOTA_ROWS caps the items one username creates per day (429
quota_exceeded), counted in the same storage.

The counts live in RATELIMIT_STORAGE_URI: by default file://<instance>/ratelimits.sqlite3 (FileStorage,
below), one count for every worker of the instance that survives their restarts; redis:// shares one
count between every worker and instance; memory:// counts per process. If the storage fails the
request is served anyway (limits fail open) and Flask-Limiter logs the fault.
"""

import os
import random
import sqlite3
import threading
import time
from datetime import UTC, datetime

import orjson
from flask import current_app, g, request
from flask_limiter import Limit, Limiter
from limits.storage import Storage, storage_from_string

from phoenix.auth import request_key
from phoenix.errors import HTTP_MESSAGES, RETRY_AFTER, ApiError, error_answer
from phoenix.listing import read_cost
from phoenix.openapi import SECONDS, Feature, contribute, shared_answer, shared_header

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_CREATION_ENDPOINTS = frozenset({"keys", "legacy_generate_key"})
UNLIMITED_ENDPOINTS = frozenset({"health", "ready"})
# A Redis that is down or unreachable must not hold a request for long before it fails open.
REDIS_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}


def client_address():
    """The client's IP address: the socket's, or X-Forwarded-For's when PHOENIX_TRUSTED_PROXIES says so."""
    return request.remote_addr or "unknown"


def key_holder():
    """The username of the working key that signs this request."""
    row, _ = request_key()
    return row.username


def limit_scope():
    """The limit this request counts against: "keys", "writes", "reads" or None; decided once."""
    if "limit_scope" not in g:
        endpoint = request.endpoint
        if endpoint in KEY_CREATION_ENDPOINTS:
            g.limit_scope = "keys"
        elif endpoint in UNLIMITED_ENDPOINTS:
            g.limit_scope = None
        elif request.method in WRITE_METHODS and request_key()[0] is not None:
            g.limit_scope = "writes"
        else:
            g.limit_scope = "reads"
    return g.limit_scope


def items_sent():
    """How many items this write carries: the length of a JSON array body (a bulk create), else 1."""
    raw = request.get_data(cache=True)  # read already (phoenix.database.read_body_first)
    if request.is_json and raw.lstrip()[:1] == b"[":
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return 1
        return max(len(data), 1) if isinstance(data, list) else 1
    return 1


def not_our_failure(response):
    """A key creation counts unless we failed (5xx): a client's quota does not pay for our faults."""
    return response.status_code < 500


def request_cost():
    """What this request counts as against its limit: a list's cost in reads (phoenix.listing), else 1."""
    view = current_app.view_functions.get(request.endpoint)
    listing = getattr(getattr(getattr(view, "view_class", None), "collection", None), "listing", None)
    if request.method != "GET" or listing is None:
        return 1
    return read_cost(listing, request.args)


def phoenix_limit(scope, setting, key_function, **options):
    """One of the three limits: its rate read from the app's settings, counted under scope."""
    return Limit(
        lambda: current_app.config[setting],
        key_function=key_function,
        scope=scope,
        # Shared: one count per client (or key) for every route in the scope, not one per route.
        shared=True,
        exempt_when=lambda: limit_scope() != scope,
        **options,
    )


class FileStorage(Storage):
    """Counts in a SQLite file (file:///path): shared by every process that opens it, kept across restarts.

    The default storage: the workers of one instance share one count, and a worker's restart (which a
    slow client can force) resets nothing, without a Redis to run. Each count is one UPSERT in WAL mode
    (tens of microseconds); expired counts are swept now and then. Several instances need Redis.
    """

    STORAGE_SCHEME = ["file"]
    SWEEP_CHANCE = 0.001

    def __init__(self, uri, wrap_exceptions=False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.path = uri.removeprefix("file://")
        self.local = threading.local()

    @property
    def base_exceptions(self):
        return sqlite3.Error

    @property
    def db(self):
        """This process's and thread's connection (a forked worker opens its own)."""
        if getattr(self.local, "pid", None) != os.getpid():
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS counts (key TEXT PRIMARY KEY, count INTEGER NOT NULL,"
                " expires_at REAL NOT NULL)"
            )
            self.local.connection, self.local.pid = connection, os.getpid()
        return self.local.connection

    def incr(self, key, expiry, amount=1):
        now = time.time()
        if random.random() < self.SWEEP_CHANCE:
            self.db.execute("DELETE FROM counts WHERE expires_at <= ?", (now,))
        # A window that has ended starts again from this amount.
        (count,) = self.db.execute(
            "INSERT INTO counts (key, count, expires_at) VALUES (:key, :amount, :expires)"
            " ON CONFLICT (key) DO UPDATE SET"
            " count = CASE WHEN expires_at <= :now THEN :amount ELSE count + :amount END,"
            " expires_at = CASE WHEN expires_at <= :now THEN :expires ELSE expires_at END"
            " RETURNING count",
            {"key": key, "amount": amount, "expires": now + expiry, "now": now},
        ).fetchone()
        return count

    def get(self, key):
        row = self.db.execute(
            "SELECT count FROM counts WHERE key = ? AND expires_at > ?", (key, time.time())
        ).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key):
        row = self.db.execute("SELECT expires_at FROM counts WHERE key = ?", (key,)).fetchone()
        return row[0] if row else time.time()

    def check(self):
        return self.db.execute("SELECT 1").fetchone() == (1,)

    def reset(self):
        return self.db.execute("DELETE FROM counts").rowcount

    def clear(self, key):
        self.db.execute("DELETE FROM counts WHERE key = ?", (key,))


QUOTA_EXCEEDED = (
    "You have created the {quota} items a day that this server allows a username. "
    "Try again after the seconds in Retry-After."
)


def use_quota(username, items):
    """Count items against username's daily PHOENIX_QUOTA_ROWS, or refuse them all with 429."""
    quota = current_app.config["PHOENIX_QUOTA_ROWS"]
    if not quota:
        return
    storage = current_app.extensions["phoenix_quota"]
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    key = f"{current_app.config['RATELIMIT_KEY_PREFIX']}/quota/{day}/{username.lower()}"
    if storage.incr(key, 86400, items) > quota:
        storage.incr(key, 86400, -items)  # refused: these items do not count
        midnight = 86400 - int(time.time()) % 86400
        raise ApiError(
            429,
            QUOTA_EXCEEDED.format(quota=quota),
            headers={"Retry-After": str(midnight)},
            code="quota_exceeded",
        )


def register_rate_limits(app):
    """Limit app's requests, unless PHOENIX_RATELIMIT_ENABLED=0: then no hook is added at all.

    Each app gets its own Limiter: Flask-Limiter keeps its storage and settings on the instance, so one
    module-level instance would let the last app built in a process (the tests build many) set them all.
    """
    contribute(app, document_limits)  # the spec is the same whether limits are on or off here
    options = REDIS_OPTIONS if app.config["RATELIMIT_STORAGE_URI"].startswith("redis") else {}
    if app.config["PHOENIX_QUOTA_ROWS"]:
        app.extensions["phoenix_quota"] = storage_from_string(app.config["RATELIMIT_STORAGE_URI"], **options)
    if not app.config["RATELIMIT_ENABLED"]:
        return None
    limiter = Limiter(
        client_address,
        default_limits=[
            phoenix_limit("keys", "PHOENIX_RATELIMIT_KEYS", client_address, deduct_when=not_our_failure),
            phoenix_limit("writes", "PHOENIX_RATELIMIT_WRITES", key_holder, cost=items_sent),
            phoenix_limit("reads", "PHOENIX_RATELIMIT_READS", client_address, cost=request_cost),
        ],
        strategy="fixed-window",
        headers_enabled=True,
        swallow_errors=True,
        storage_options=options,
    )
    limiter.init_app(app)
    return limiter


# The docs of the limits: the 429 of every route they cover.
RATE_LIMITED = shared_answer(
    "RateLimited",
    error_answer(
        "Too many requests from this client (or, for a signed write, this key): wait Retry-After seconds.",
        HTTP_MESSAGES[429].format(limit="600 per 1 minute"),
        headers={
            "Retry-After": RETRY_AFTER,
            "X-RateLimit-Limit": shared_header(
                "X-RateLimit-Limit", "How many requests the limit allows a window.", SECONDS, True
            ),
            "X-RateLimit-Remaining": shared_header(
                "X-RateLimit-Remaining", "How many are left in this window: 0.", SECONDS, True
            ),
            "X-RateLimit-Reset": shared_header(
                "X-RateLimit-Reset", "When the window ends, as a Unix time.", SECONDS, True
            ),
        },
    ),
)
LIMITED = Feature(answers={429: RATE_LIMITED})


def document_limits(context):
    """The 429 of every operation the limits cover (a spec contributor, phoenix.openapi)."""
    return None if context.endpoint in UNLIMITED_ENDPOINTS else LIMITED
