"""/metrics: the instance's Prometheus metrics (phoenix/metrics.py counts them), behind a bearer token."""

import hmac

from flask import Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from phoenix.errors import HTTP_MESSAGES, ApiError, error_answer
from phoenix.metrics import scrape
from phoenix.openapi import Answer, Operation
from phoenix.resources.health import TAG
from phoenix.resources.resource import PhoenixResource

BAD_TOKEN = "Scraping /metrics needs the header Authorization: Bearer <PHOENIX_METRICS_TOKEN>."


class Metrics(PhoenixResource):
    """GET /metrics: for Prometheus; 404 unless PHOENIX_METRICS_TOKEN is set, then that bearer token."""

    docs = {
        "get": Operation(
            summary="Metrics (Prometheus)",
            tag=TAG,
            description="Only when the server sets `PHOENIX_METRICS_TOKEN`, and with "
            "`Authorization: Bearer <that token>`; otherwise 404. Counted across every worker.",
            answers={
                200: Answer(
                    "The metrics, in Prometheus' text format.", {"type": "string"}, media_type="text/plain"
                ),
                401: error_answer("No token, or the wrong one.", BAD_TOKEN, code="not_authenticated"),
                404: error_answer(
                    "Metrics are turned off (no PHOENIX_METRICS_TOKEN).", HTTP_MESSAGES[404], code="not_found"
                ),
            },
            uses_database=False,
        )
    }

    def get(self):
        token = current_app.config["PHOENIX_METRICS_TOKEN"]
        if not token:
            raise ApiError(404, HTTP_MESSAGES[404], code="not_found")
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
            raise ApiError(
                401,
                BAD_TOKEN,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                code="not_authenticated",
            )
        return Response(scrape(), content_type=CONTENT_TYPE_LATEST)
