"""/health and /health/ready: for load balancers and orchestrators."""

import redis
from flask import current_app
from flask_restful import Resource
from sqlalchemy import text

from phoenix.extensions import db
from phoenix.openapi import TEXT, Answer, Operation, success
from phoenix.ratelimits import REDIS_OPTIONS


class Health(Resource):
    """Liveness: the process answers."""

    docs = {
        "get": Operation(
            summary="Liveness",
            tag="Health",
            answers={
                200: Answer(
                    "The process runs.",
                    success(message=TEXT),
                    {"status": "success", "message": "Phoenix is running."},
                )
            },
            uses_database=False,
        )
    }

    def get(self):
        return {"status": "success", "message": "Phoenix is running."}


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


class Ready(Resource):
    """Readiness: the database answers too; and the state of Redis, when the rate limits use it."""

    docs = {
        "get": Operation(
            summary="Readiness",
            tag="Health",
            description="503 `database_unavailable` (with Retry-After) while the database cannot be reached. "
            "`redis` is there when the rate limits live in Redis: `unavailable` does not make the "
            "instance unready, because limits fail open (requests are served, unlimited, meanwhile).",
            answers={
                200: Answer(
                    "The database answers too.",
                    success(
                        message=TEXT,
                        database={"type": "string", "enum": ["ok"]},
                        redis={"type": "string", "enum": ["ok", "unavailable"]},
                        optional=("redis",),
                    ),
                    {"status": "success", "message": "Phoenix is ready.", "database": "ok", "redis": "ok"},
                )
            },
        )
    }

    def get(self):
        db.session.execute(text("SELECT 1"))
        body = {"status": "success", "message": "Phoenix is ready.", "database": "ok"}
        state = redis_state()
        if state is not None:
            body["redis"] = state
        return body
