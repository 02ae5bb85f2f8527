"""Settings read from the environment when the app is created."""

import os

DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024
CONFIG_NAMES = ("development", "testing", "production")


def database_url(instance_path):
    """The SQLAlchemy URL from DATABASE_URL, or the SQLite file under instance/."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + os.path.join(instance_path, "phoenix.sqlite3")
    # Heroku and others still hand out postgres://, which SQLAlchemy dropped; and SQLAlchemy 2.1
    # reads a bare postgresql:// as psycopg 3, while Phoenix ships psycopg2.
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):
        url = "postgresql+psycopg2://" + rest
    return url


def env_int(name, default):
    """An integer environment variable, or the default when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_flag(name, default):
    """A boolean environment variable: 1/true/yes/on or 0/false/no/off."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in ("1", "true", "yes", "on")


def engine_options(url):
    """Engine settings that suit each database."""
    if url.startswith("sqlite"):
        # Several gunicorn workers share one file: wait for the lock instead of failing.
        return {"connect_args": {"timeout": 30}}
    # No pool_pre_ping: it costs a round trip per request; phoenix.database pings idle connections only.
    return {"pool_size": 5, "max_overflow": 5}


def load_config(instance_path, name=None):
    """Every setting Phoenix reads, as a dict for app.config."""
    name = (name or os.environ.get("PHOENIX_CONFIG") or "production").strip().lower()
    if name not in CONFIG_NAMES:
        raise RuntimeError(f"PHOENIX_CONFIG must be one of {', '.join(CONFIG_NAMES)}, not {name!r}")
    url = database_url(instance_path)
    return {
        "PHOENIX_CONFIG": name,
        "DEBUG": name == "development",
        "TESTING": name == "testing",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "MAX_CONTENT_LENGTH": env_int("MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
        "PHOENIX_OPEN_REGISTRATION": env_flag("PHOENIX_OPEN_REGISTRATION", True),
    }
