"""/health and /health/ready: for load balancers and orchestrators."""

from flask_restful import Resource
from sqlalchemy import text

from phoenix.extensions import db
from phoenix.jsonio import MESSAGE, envelope, success
from phoenix.openapi import TEXT, Answer, Operation, Tag

TAG = Tag("Health", "For load balancers and orchestrators.")
RUNNING = success(message="Phoenix is running.")
READY = success(message="Phoenix is ready.", database="ok")
READINESS = envelope(
    "Readiness",
    description="The process runs and the database answers.",
    message=TEXT,
    database={"type": "string", "enum": ["ok"]},
)


class Health(Resource):
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


class Ready(Resource):
    """Readiness: the database answers too."""

    docs = {
        "get": Operation(
            summary="Readiness",
            tag=TAG,
            description="503 (with Retry-After) while the database cannot be reached.",
            answers={200: Answer("The database answers too.", READINESS, READY)},
        )
    }

    def get(self):
        db.session.execute(text("SELECT 1"))
        return READY
