"""Settings read from the environment when the app is created."""

import os
import secrets

from limits import parse_many

DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024
CONFIG_NAMES = ("development", "testing", "production")
# Host names that only this machine reaches: safe to echo on the landing page (`make run`'s own address).
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def database_url(instance_path):
    """The SQLAlchemy URL from DATABASE_URL, or the SQLite file under instance/."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + os.path.join(instance_path, "phoenix.sqlite3")
    return with_driver(url)


def with_driver(url):
    """url with the PostgreSQL driver that Phoenix ships spelled out."""
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


def env_optional_int(name, minimum=1):
    """A whole-number environment variable of at least minimum, or None when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < minimum:
        raise RuntimeError(f"{name} must be a whole number of at least {minimum}, not {value!r}")
    return int(value)


def env_whole(name, default):
    """A whole number of at least 0 from the environment, or default when it is unset or blank."""
    value = env_optional_int(name, minimum=0)
    return default if value is None else value


def env_rate_limit(name, default):
    """A rate limit such as "600/minute" (Flask-Limiter's notation), checked when the app starts."""
    value = os.environ.get(name, "").strip() or default
    try:
        parse_many(value)
    except ValueError:
        raise RuntimeError(f"{name} must be a rate limit such as {default!r}, not {value!r}") from None
    return value


def env_list(name):
    """A comma-separated environment variable as a list, empty when unset."""
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]


def env_flag(name, default):
    """A boolean environment variable: 1/true/yes/on or 0/false/no/off."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in ("1", "true", "yes", "on")


def env_choice(name, choices, default):
    """One of choices from the environment (case-insensitive), or default when unset."""
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise RuntimeError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def engine_options(url):
    """Engine settings that suit each database."""
    if url.startswith("sqlite"):
        # Several gunicorn workers share one file: wait for the lock instead of failing.
        return {"connect_args": {"timeout": 30}}
    return {
        # No pool_pre_ping (a round trip per request): phoenix.database pings connections left idle, and
        # a connection found dead is replaced with the whole pool, so service resumes by itself.
        # Ten kept: an overflow connection is closed when given back, so a pool smaller than a worker's
        # usual number of requests at once opens and closes a connection for many of them (README,
        # "Connections").
        "pool_size": env_int("PHOENIX_DB_POOL_SIZE", 10),
        "max_overflow": env_int("PHOENIX_DB_MAX_OVERFLOW", 5),
        "pool_timeout": 10,
        # No startup "options" (PgBouncer in transaction mode refuses them): the timeouts travel with each
        # transaction's first statement instead (phoenix.database.guard_transactions).
        "connect_args": {"connect_timeout": env_int("PHOENIX_DB_CONNECT_TIMEOUT_S", 5)},
    }


LOG_FORMATS = ("json", "text")


def config_name(name=None):
    """PHOENIX_CONFIG (or name), checked: development, testing or production (the default)."""
    name = (name or os.environ.get("PHOENIX_CONFIG") or "production").strip().lower()
    if name not in CONFIG_NAMES:
        raise RuntimeError(f"PHOENIX_CONFIG must be one of {', '.join(CONFIG_NAMES)}, not {name!r}")
    return name


def log_format(name=None):
    """LOG_FORMAT: json (production's default: one object a line, for log collectors) or text."""
    default = "json" if config_name(name) == "production" else "text"
    value = os.environ.get("LOG_FORMAT", "").strip().lower() or default
    if value not in LOG_FORMATS:
        raise RuntimeError(f"LOG_FORMAT must be json or text, not {value!r}")
    return value


def kept_secret(instance_path):
    """The server's secret kept in instance/secret_key, made on first use.

    Made atomically: each process writes a candidate to a file of its own and links it into place; the
    link fails if another got there first, and then every process reads the one that won. So all the
    workers of an instance, started at once, agree on one secret, and it survives restarts.
    """
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        os.makedirs(instance_path, exist_ok=True)
        candidate = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        with open(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(candidate)
    with open(path) as file:
        return file.read().strip()


def default_limit_storage(instance_path, config_name):
    """A file under instance/, one count for every worker of the instance (phoenix.ratelimits); memory
    for the testing configuration, so that each app a test builds starts from no count."""
    if config_name == "testing":
        return "memory://"
    return "file://" + os.path.join(os.path.abspath(instance_path), "ratelimits.sqlite3")


def load_config(instance_path, name=None):
    """Every setting Phoenix reads, as a dict for app.config."""
    name = config_name(name)
    url = database_url(instance_path)
    return {
        "PHOENIX_CONFIG": name,
        "DEBUG": name == "development",
        "TESTING": name == "testing",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        # One slow statement cannot hold a worker longer than this; a transaction left idle is ended.
        "PHOENIX_DB_STATEMENT_TIMEOUT_MS": env_int("PHOENIX_DB_STATEMENT_TIMEOUT_MS", 5000),
        "PHOENIX_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": env_int(
            "PHOENIX_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10000
        ),
        "MAX_CONTENT_LENGTH": env_int("MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
        "LOG_FORMAT": log_format(name),
        "PHOENIX_OPEN_REGISTRATION": env_flag("PHOENIX_OPEN_REGISTRATION", True),
        "PHOENIX_KEY_MAX_AGE_DAYS": env_optional_int("PHOENIX_KEY_MAX_AGE_DAYS"),
        # How long a rotated-away key may go on working (grace_seconds), at most.
        "PHOENIX_KEY_MAX_GRACE_SECONDS": env_whole("PHOENIX_KEY_MAX_GRACE_SECONDS", 86400),
        # Who may change an item: any key with the write scope ("shared"), or its creator ("owner").
        "PHOENIX_WRITE_POLICY": env_choice("PHOENIX_WRITE_POLICY", ("shared", "owner"), "shared"),
        "PHOENIX_TRUSTED_PROXIES": env_optional_int("PHOENIX_TRUSTED_PROXIES", minimum=0) or 0,
        "CORS_ORIGINS": env_list("CORS_ORIGINS"),
        # Signs cursors (phoenix.listing); unset: made once and kept in instance/secret_key.
        "PHOENIX_SECRET_KEY": os.environ.get("PHOENIX_SECRET_KEY", "").strip() or None,
        # What the landing page shows as the server's address (phoenix.security.public_base_url).
        "PHOENIX_PUBLIC_URL": os.environ.get("PHOENIX_PUBLIC_URL", "").strip().rstrip("/") or None,
        "PHOENIX_ALLOWED_HOSTS": [host.lower() for host in env_list("PHOENIX_ALLOWED_HOSTS")]
        or list(LOCAL_HOSTS),
        # Flask-Limiter's own setting names, so that its documentation applies as it stands.
        "RATELIMIT_ENABLED": env_flag("PHOENIX_RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "").strip()
        or default_limit_storage(instance_path, name),
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", "").strip() or "phoenix",
        "PHOENIX_RATELIMIT_KEYS": env_rate_limit("PHOENIX_RATELIMIT_KEYS", "10/hour"),
        # Items, not requests: a bulk create of 500 uses 500.
        "PHOENIX_RATELIMIT_WRITES": env_rate_limit("PHOENIX_RATELIMIT_WRITES", "6000/minute"),
        "PHOENIX_QUOTA_ROWS": env_optional_int("PHOENIX_QUOTA_ROWS"),
        "PHOENIX_RATELIMIT_READS": env_rate_limit("PHOENIX_RATELIMIT_READS", "3000/minute"),
        # How often (at most) each worker deletes a batch of expired idempotent answers.
        "PHOENIX_HOUSEKEEPING_INTERVAL_S": env_int("PHOENIX_HOUSEKEEPING_INTERVAL_S", 60),
        # /metrics answers 404 without it; with it, only to Authorization: Bearer <token>.
        "PHOENIX_METRICS_TOKEN": os.environ.get("PHOENIX_METRICS_TOKEN", "").strip() or None,
    }
