"""/health and /health/ready: for load balancers and orchestrators."""

from flask_restful import Resource
from sqlalchemy import text

from phoenix.extensions import db


class Health(Resource):
    """Liveness: the process answers."""

    def get(self):
        return {"status": "success", "message": "Phoenix is running."}


class Ready(Resource):
    """Readiness: the database answers too."""

    def get(self):
        db.session.execute(text("SELECT 1"))
        return {"status": "success", "message": "Phoenix is ready.", "database": "ok"}
