"""Rate limits (Flask-Limiter): key creation per client IP, writes per key, other requests per client IP.

Every request counts against one limit at most:
- "keys": POST /api/keys and /api/generate_key/<username>, per client IP (PHOENIX_RATELIMIT_KEYS);
- "writes": POST, PUT, PATCH and DELETE signed with a working key, per key holder
  (PHOENIX_RATELIMIT_WRITES; by username, so that rotating a key does not start a fresh count);
- "reads": everything else, per client IP (PHOENIX_RATELIMIT_READS): reads, and writes without a
  working key, which are refused with 401 but still cost a lookup; a list request counts as several
  reads in proportion to its cost (phoenix.listing.read_cost: a large page, a search, a count);
- none: /health and /health/ready, so that a load balancer's probes are never refused.

The counts live in RATELIMIT_STORAGE_URI: memory:// counts per process; redis:// shares one count
between every worker and instance. If Redis cannot be reached the request is served anyway (limits
fail open) and Flask-Limiter logs the fault.
"""

from flask import current_app, g, request
from flask_limiter import Limit, Limiter

from phoenix.auth import request_key
from phoenix.listing import read_cost

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


def request_cost():
    """What this request counts as against its limit: a list's cost in reads (phoenix.listing), else 1."""
    view = current_app.view_functions.get(request.endpoint)
    listing = getattr(getattr(getattr(view, "view_class", None), "collection", None), "listing", None)
    if request.method != "GET" or listing is None:
        return 1
    return read_cost(listing, request.args)


def phoenix_limit(scope, setting, key_function, cost=1):
    """One of the three limits: its rate read from the app's settings, counted under scope."""
    return Limit(
        lambda: current_app.config[setting],
        key_function=key_function,
        scope=scope,
        cost=cost,
        # Shared: one count per client (or key) for every route in the scope, not one per route.
        shared=True,
        exempt_when=lambda: limit_scope() != scope,
    )


def register_rate_limits(app):
    """Limit app's requests, unless PHOENIX_RATELIMIT_ENABLED=0: then no hook is added at all.

    Each app gets its own Limiter: Flask-Limiter keeps its storage and settings on the instance, so one
    module-level instance would let the last app built in a process (the tests build many) set them all.
    """
    if not app.config["RATELIMIT_ENABLED"]:
        return None
    limiter = Limiter(
        client_address,
        default_limits=[
            phoenix_limit("keys", "PHOENIX_RATELIMIT_KEYS", client_address),
            phoenix_limit("writes", "PHOENIX_RATELIMIT_WRITES", key_holder),
            phoenix_limit("reads", "PHOENIX_RATELIMIT_READS", client_address, cost=request_cost),
        ],
        strategy="fixed-window",
        headers_enabled=True,
        swallow_errors=True,
        storage_options=REDIS_OPTIONS if app.config["RATELIMIT_STORAGE_URI"].startswith("redis") else {},
    )
    limiter.init_app(app)
    return limiter
