"""Phoenix: a JSON REST API for records and games, signed with self-service API keys."""

import logging
import os

from flask import Flask

from phoenix.cli import register_commands
from phoenix.config import engine_options, load_config
from phoenix.database import register_database
from phoenix.errors import register_errorhandlers
from phoenix.extensions import db, ma, migrate
from phoenix.resources import register_resources


def create_app(config=None):
    """Build the app: settings from the environment, then config (a dict) on top."""
    app = Flask(__name__, instance_relative_config=True)
    configure(app, config)
    configure_logging(app)
    register_extensions(app)
    register_errorhandlers(app)
    register_resources(app)
    register_commands(app)
    return app


def configure(app, config):
    """Load settings; make sure the SQLite default has a folder to live in."""
    config = dict(config or {})
    app.config.update(load_config(app.instance_path, config.get("PHOENIX_CONFIG")))
    app.config.update(config)
    if "SQLALCHEMY_ENGINE_OPTIONS" not in config:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    os.makedirs(app.instance_path, exist_ok=True)
    # No redirects between /path and /path/ (their bodies would be HTML): both simply match.
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False


def configure_logging(app):
    """Log at LOG_LEVEL, to stderr (gunicorn and Heroku collect it)."""
    app.logger.setLevel(getattr(logging, app.config["LOG_LEVEL"], logging.INFO))


def register_extensions(app):
    """Bind the extension objects to this app."""
    db.init_app(app)
    ma.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    register_database(app)
