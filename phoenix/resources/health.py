"""/health and /health/ready: for load balancers and orchestrators."""

from flask_restful import Resource
from sqlalchemy import text

from phoenix.extensions import db
from phoenix.openapi import TEXT, Answer, Operation, success


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


class Ready(Resource):
    """Readiness: the database answers too."""

    docs = {
        "get": Operation(
            summary="Readiness",
            tag="Health",
            description="503 (with Retry-After) while the database cannot be reached.",
            answers={
                200: Answer(
                    "The database answers too.",
                    success(message=TEXT, database={"type": "string", "enum": ["ok"]}),
                    {"status": "success", "message": "Phoenix is ready.", "database": "ok"},
                )
            },
        )
    }

    def get(self):
        db.session.execute(text("SELECT 1"))
        return {"status": "success", "message": "Phoenix is ready.", "database": "ok"}
