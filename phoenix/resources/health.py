"""/health and /health/ready: for load balancers and orchestrators."""

import redis
from flask import current_app
from sqlalchemy import text

from phoenix.extensions import db
from phoenix.jsonio import MESSAGE, envelope, success
from phoenix.openapi import TEXT, Answer, Operation, Tag
from phoenix.ratelimits import REDIS_OPTIONS
from phoenix.resources.resource import PhoenixResource

TAG = Tag("Health", "For load balancers and orchestrators.")
RUNNING = success(message="Phoenix is running.")
READY = success(message="Phoenix is ready.", database="ok")
READINESS = envelope(
    "Readiness",
    description="The process runs and the database answers; and the state of Redis, when the limits use it.",
    optional=("redis",),
    message=TEXT,
    database={"type": "string", "enum": ["ok"]},
    redis={"type": "string", "enum": ["ok", "unavailable"]},
)


class Health(PhoenixResource):
    """Liveness: the process answers."""

    docs = {
        "get": Operation(
            summary="Liveness",
            tag=TAG,
            answers={200: Answer("The process runs.", MESSAGE, RUNNING)},
            uses_database=False,
        )
    }

    def get(self):
        return RUNNING


def redis_state():
    """ "ok" or "unavailable" for the Redis that holds the rate limits; None when they live elsewhere."""
    uri = current_app.config["RATELIMIT_STORAGE_URI"]
    if not (current_app.config["RATELIMIT_ENABLED"] and uri.startswith(("redis://", "rediss://"))):
        return None
    client = current_app.extensions.get("readiness_redis")
    if client is None:
        client = current_app.extensions["readiness_redis"] = redis.Redis.from_url(uri, **REDIS_OPTIONS)
    try:
        client.ping()
    except redis.RedisError:
        return "unavailable"
    return "ok"


class Ready(PhoenixResource):
    """Readiness: the database answers too; and the state of Redis, when the rate limits use it."""

    docs = {
        "get": Operation(
            summary="Readiness",
            tag=TAG,
            description="503 `database_unavailable` (with Retry-After) while the database cannot be reached. "
            "`redis` is there when the rate limits live in Redis: `unavailable` does not make the "
            "instance unready, because limits fail open (requests are served, unlimited, meanwhile).",
            answers={200: Answer("The database answers too.", READINESS, {**READY, "redis": "ok"})},
        )
    }

    def get(self):
        db.session.execute(text("SELECT 1"))
        state = redis_state()
        return READY if state is None else {**READY, "redis": state}
