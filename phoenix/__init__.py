"""Phoenix: a JSON REST API for records and games, signed with self-service API keys."""

import os
from inspect import iscoroutinefunction
from types import FunctionType, MethodType

from flask import Flask
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from phoenix.cli import register_commands
from phoenix.config import engine_options, kept_secret, load_config, with_driver
from phoenix.database import register_database
from phoenix.errors import register_errorhandlers
from phoenix.extensions import db, ma, migrate
from phoenix.hooks import register_hooks
from phoenix.logs import configure_logging
from phoenix.metrics import register_metrics
from phoenix.ratelimits import register_rate_limits
from phoenix.resources import register_resources


class PhoenixFlask(Flask):
    """Flask, asking once per function whether a hook or view is a coroutine function.

    Flask asks inspect.iscoroutinefunction again for every hook and view on every request (ten a read):
    3% of a read's time in the app (cProfile). A function's answer never changes, so it is kept; a bound
    method's (a resource's dispatch_request, a new object each time) is its function's.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.coroutine_functions = {}

    def ensure_sync(self, func):
        function = func.__func__ if type(func) is MethodType else func
        if type(function) is not FunctionType:  # another callable: asked each time
            return super().ensure_sync(func)
        coroutine = self.coroutine_functions.get(function)
        if coroutine is None:
            coroutine = self.coroutine_functions[function] = iscoroutinefunction(function)
        return self.async_to_sync(func) if coroutine else func


def create_app(config=None):
    """Build the app: settings from the environment, then config (a dict) on top."""
    # static_folder=None: /static is a resource in the URL map like every other route (resources/docs.py).
    app = PhoenixFlask(__name__, instance_relative_config=True, static_folder=None)
    configure(app, config)
    configure_logging(app)
    register_hooks(app)  # first: its before hook runs first, its after hook last
    trust_proxies(app)
    allow_cross_origin(app)
    register_extensions(app)
    register_metrics(app)
    register_rate_limits(app)
    register_errorhandlers(app)
    register_resources(app)
    register_commands(app)
    return app


def configure(app, config):
    """Load settings; make sure the SQLite default has a folder to live in."""
    config = dict(config or {})
    app.config.update(load_config(app.instance_path, config.get("PHOENIX_CONFIG")))
    app.config.update(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = with_driver(app.config["SQLALCHEMY_DATABASE_URI"])
    if "SQLALCHEMY_ENGINE_OPTIONS" not in config:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("PHOENIX_SECRET_KEY"):
        app.config["PHOENIX_SECRET_KEY"] = kept_secret(app.instance_path)
    # No redirects between /path and /path/ (their bodies would be HTML): both simply match.
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False


def trust_proxies(app):
    """Take the client's address from X-Forwarded-For, but only through the proxies the operator trusts.

    Without PHOENIX_TRUSTED_PROXIES the header is ignored: any client could write anything in it, and
    so choose the address that its requests are rate limited under.
    """
    hops = app.config["PHOENIX_TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)


# What a browser app on another origin may send, and read back, beyond the CORS-safelisted headers.
CORS_REQUEST_HEADERS = [
    "api-key",
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
CORS_RESPONSE_HEADERS = [
    "ETag", "Location", "Link", "Retry-After", "Idempotent-Replayed", "X-Accepted-Scopes", "X-Request-ID",
    "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
]  # fmt: skip


def allow_cross_origin(app):
    """Let browser apps served from CORS_ORIGINS call the API; no origin is allowed unless named."""
    origins = app.config["CORS_ORIGINS"]
    if origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": "*" if origins == ["*"] else origins}},
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            max_age=600,
        )


def register_extensions(app):
    """Bind the extension objects to this app."""
    db.init_app(app)
    ma.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    register_database(app)
