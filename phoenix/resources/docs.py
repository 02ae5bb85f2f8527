"""The pages people read: the landing page, Swagger UI on our spec, the spec, and the files they load.

Everything is served from this process (our templates and static folder, and Swagger UI's files from
the swagger-ui-bundle package): the pages work with no network, and their Content-Security-Policy
lets them load nothing from anywhere else. These are pages, not error pages: a failure is still JSON.
"""

import os

from flask import current_app, make_response, render_template, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from phoenix.errors import HTTP_MESSAGES, ApiError, error_answer
from phoenix.jsonio import json_response
from phoenix.openapi import Answer, Operation, Tag, schema, spec_for
from phoenix.resources.games import GAMES
from phoenix.resources.records import RECORDS
from phoenix.resources.resource import PhoenixResource
from phoenix.security import public_base_url

# What the spec says of Phoenix as a whole (phoenix.openapi.describe).
API_INFO = {
    "title": "Phoenix",
    "version": "1.0.0",
    "description": (
        "A JSON REST API in which scripted clients keep two collections, **records** and **games**. "
        "Reads are public; every write is signed with an API key that a client makes for itself "
        "(`POST /api/keys`), sent as the `api-key` header or as `Authorization: Bearer <key>`, and "
        "stamps the item with the key's username (`lastmodifiedby`). Every failure is JSON: "
        '`{"status": "failed", "message": ..., "code"?: ..., "errors"?: {field: [messages]}}`.\n\n'
        "Items carry a version as a strong `ETag`: send it back in `If-Match` to write only over the "
        "version you read (412 otherwise), or in `If-None-Match` to read only what changed (304). "
        "Creates take an `Idempotency-Key` so that a retry never creates twice. Requests are rate "
        "limited (429 with `Retry-After`; every limited answer carries `X-RateLimit-Limit`, "
        "`X-RateLimit-Remaining` and `X-RateLimit-Reset`), and a database outage is a 503 with "
        "`Retry-After`, never a 500."
    ),
    # As setup.cfg says.
    "license": {"name": "MIT", "url": "https://opensource.org/license/mit"},
}

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
# What the files served here are: stylesheets, scripts (by either name) and icons.
FILE_TYPES = ("text/css", "text/javascript", "application/javascript", "image/png", "image/svg+xml")
NO_FILE = error_answer("There is no such file.", HTTP_MESSAGES[404])
TAG = Tag("Docs", "This reference, the landing page and the files they load.")
FILENAME = {"filename": {"description": "The file's name.", "schema": {"type": "string"}}}
OPENAPI_DOCUMENT = schema(
    "OpenApiDocument",
    {"type": "object", "description": "An OpenAPI 3.0 document.", "additionalProperties": True},
)

# The two collections on the landing page, each with its description (its fields come from its schema).
LANDING_COLLECTIONS = (RECORDS, GAMES)


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
            tag=TAG,
            answers={200: Answer(description, HTML, media_type="text/html")},
            uses_database=False,
        )
    }


def file_docs(summary):
    """The docs of a file route: GET answers the file, or 404."""
    return {
        "get": Operation(
            summary=summary,
            tag=TAG,
            answers={
                200: Answer("The file, with its own media type.", FILE, media_type=FILE_TYPES),
                404: NO_FILE,
            },
            uses_database=False,
        )
    }


class Landing(PhoenixResource):
    """GET /: what Phoenix is, a curl quick start, the way to the docs."""

    docs = page_docs("The landing page", "What Phoenix is and a curl quick start.")

    def get(self):
        return page("index.html", base_url=public_base_url(), collections=LANDING_COLLECTIONS)


class ApiDocs(PhoenixResource):
    """GET /api/docs: Swagger UI, reading /api/openapi.json."""

    docs = page_docs("This reference (Swagger UI)", "Swagger UI on /api/openapi.json.")

    def get(self):
        return page("docs.html")


class OpenApiSpec(PhoenixResource):
    """GET /api/openapi.json: the OpenAPI 3 document, generated from the code."""

    docs = {
        "get": Operation(
            summary="The OpenAPI document",
            tag=TAG,
            description="Generated from the URL map, the resources and the marshmallow schemas.",
            answers={200: Answer("This document.", OPENAPI_DOCUMENT)},
            uses_database=False,
        )
    }

    def get(self):
        # Relative to wherever the app is mounted, so that "Try it out" calls this same server.
        return json_response({**spec_for(current_app), "servers": [{"url": request.script_root or "/"}]})


class StaticFile(PhoenixResource):
    """GET /static/<filename>: the landing page's stylesheet, Swagger UI's start-up script, the icon."""

    path_parameters = FILENAME
    docs = file_docs("A file of the landing page or of this reference")

    def get(self, filename):
        return send_from_directory(STATIC_FOLDER, filename)


class SwaggerUiFile(PhoenixResource):
    """GET /api/docs/<filename>: Swagger UI's own files, from the swagger-ui-bundle package."""

    path_parameters = FILENAME
    docs = file_docs("A file of Swagger UI")

    def get(self, filename):
        if filename not in SWAGGER_UI_FILES:
            raise ApiError(404, HTTP_MESSAGES[404], code="not_found")
        return send_from_directory(swagger_ui_path, filename)
