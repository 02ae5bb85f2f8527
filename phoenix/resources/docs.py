"""The pages people read: the landing page, Swagger UI on our spec, the spec, and the files they load.

Everything is served from this process (our templates and static folder, and Swagger UI's files from
the swagger-ui-bundle package): the pages work with no network, and their Content-Security-Policy
lets them load nothing from anywhere else. These are pages, not error pages: a failure is still JSON.
"""

import os

from flask import current_app, make_response, render_template, request, send_from_directory
from flask_restful import Resource
from swagger_ui_bundle import swagger_ui_path

from phoenix.errors import HTTP_MESSAGES, ApiError
from phoenix.jsonio import json_response
from phoenix.openapi import Answer, Operation, failure, spec_for
from phoenix.resources.games import GAMES
from phoenix.resources.records import RECORDS
from phoenix.security import public_base_url

STATIC_FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")
# The files of Swagger UI that /api/docs loads; nothing else of the package is served.
SWAGGER_UI_FILES = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"}
)

# Only this origin, for everything; Swagger UI's stylesheet draws its icons with data: URLs.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

HTML = {"type": "string"}
FILE = {"type": "string", "format": "binary"}
NO_FILE = failure("There is no such file.", HTTP_MESSAGES[404])

# The two collections on the landing page, each with a line about it (its fields come from its schema).
LANDING_COLLECTIONS = (
    (RECORDS, "Free-form measurements: a timestamp, a string, a number and a boolean, each optional."),
    (GAMES, "A video-game catalogue: every field required, the year from 1950 to 2100."),
)


def page(template, **context):
    """An HTML page from a template, with the headers every page carries."""
    response = make_response(render_template(template, **context))
    response.headers.update(PAGE_HEADERS)
    return response


def page_docs(summary, description):
    """The docs of a page: GET answers HTML."""
    return {
        "get": Operation(
            summary=summary,
            tag="Docs",
            answers={200: Answer(description, HTML, media_type="text/html")},
            uses_database=False,
        )
    }


def file_docs(summary):
    """The docs of a file route: GET answers the file, or 404."""
    return {
        "get": Operation(
            summary=summary,
            tag="Docs",
            answers={200: Answer("The file, with its own media type.", FILE, media_type="*/*"), 404: NO_FILE},
            uses_database=False,
        )
    }


class Landing(Resource):
    """GET /: what Phoenix is, a curl quick start, the way to the docs."""

    docs = page_docs("The landing page", "What Phoenix is and a curl quick start.")

    def get(self):
        return page("index.html", base_url=public_base_url(), collections=LANDING_COLLECTIONS)


class ApiDocs(Resource):
    """GET /api/docs: Swagger UI, reading /api/openapi.json."""

    docs = page_docs("This reference (Swagger UI)", "Swagger UI on /api/openapi.json.")

    def get(self):
        return page("docs.html")


class OpenApiSpec(Resource):
    """GET /api/openapi.json: the OpenAPI 3 document, generated from the code."""

    docs = {
        "get": Operation(
            summary="The OpenAPI document",
            tag="Docs",
            description="Generated from the URL map, the resources and the marshmallow schemas.",
            answers={200: Answer("This document.", {"type": "object"})},
            uses_database=False,
        )
    }

    def get(self):
        # Relative to wherever the app is mounted, so that "Try it out" calls this same server.
        return json_response({**spec_for(current_app), "servers": [{"url": request.script_root or "/"}]})


class StaticFile(Resource):
    """GET /static/<filename>: the landing page's stylesheet, Swagger UI's start-up script, the icon."""

    docs = file_docs("A file of the landing page or of this reference")

    def get(self, filename):
        return send_from_directory(STATIC_FOLDER, filename)


class SwaggerUiFile(Resource):
    """GET /api/docs/<filename>: Swagger UI's own files, from the swagger-ui-bundle package."""

    docs = file_docs("A file of Swagger UI")

    def get(self, filename):
        if filename not in SWAGGER_UI_FILES:
            raise ApiError(404, HTTP_MESSAGES[404])
        return send_from_directory(swagger_ui_path, filename)
