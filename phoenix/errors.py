"""The error shape, and the one path every failure takes to reach the client as JSON; and their docs.

The shape ({status: "failed", message, code, errors?}) and the status codes are documented in the
README's "Errors" section; the spec's Error schema describes the same body. failure() builds a failed
response; error_answer() documents one (an Answer in the `Error` schema); the contributor
document_errors() gives every operation of the spec the answers of this path: 400 (the request, its
parameters or its body), 413 and 415 (a JSON body), 500 (any), 503 (the database).
"""

from flask import current_app, request
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from phoenix.config import DEFAULT_MAX_CONTENT_LENGTH
from phoenix.jsonio import json_response
from phoenix.openapi import SECONDS, Answer, Feature, contribute, schema, shared_answer, shared_header

INVALID_INPUT = "The request has invalid fields: {names}. See errors for what each needs."
INVALID_ITEMS = (
    "Items {indexes} of the array are invalid; nothing was created. See errors, by index and field."
)
DATABASE_UNAVAILABLE = "The database is unavailable right now. Please retry in a few seconds."
RETRY_AFTER_SECONDS = "5"
SERVER_ERROR = "Something went wrong on our side. It has been logged; please try again later."
NOT_JSON = "Send the body as JSON, with the header Content-Type: application/json."
CONFLICT = "The change conflicts with data already stored. Reload and try again."
INVALID_ID = "The id must be a whole number, like 5."

HTTP_MESSAGES = {
    400: "The request could not be understood. Check its syntax and try again.",
    404: "There is nothing at this URL. The routes are listed in the README and at /api/docs.",
    405: "The {method} method is not allowed on this URL. Allowed: {allowed}.",
    # 408, 414 and 431 are answered by the gunicorn worker (phoenix/server.py), before Flask.
    408: "The request was not received in time. Send the whole request at once and try again.",
    413: "The request body is larger than the limit of {limit} bytes.",
    414: "The URL is longer than the server accepts (4094 bytes). Send shorter query parameters.",
    415: NOT_JSON,
    429: "Too many requests: the limit here is {limit}. Try again after the seconds in Retry-After.",
    431: "The request headers are too large or too many. Send fewer or shorter headers.",
}


class ApiError(Exception):
    """A failure to answer in our shape: status code, one sentence, a stable code, field errors if any."""

    def __init__(self, status, message, errors=None, headers=None, code=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.code = code


def failure(status, message, errors=None, headers=None, code=None):
    """A JSON failure response in the error shape (README, "Errors")."""
    body = {"status": "failed", "message": message}
    if code is not None:
        body["code"] = code
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status, headers)


def validation_failure(error):
    """400 for input that a schema refused, naming the fields."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    schema_level = messages.get("_schema")
    if schema_level and len(messages) == 1 and isinstance(schema_level, list):
        message = schema_level[0]
    elif all(isinstance(name, int) for name in messages):  # a bulk create: errors by index
        message = INVALID_ITEMS.format(indexes=", ".join(str(index) for index in sorted(messages)))
        messages = {str(index): item_messages for index, item_messages in sorted(messages.items())}
    else:
        message = INVALID_INPUT.format(names=", ".join(str(name) for name in messages))
    return failure(400, message, messages)


def http_failure(error):
    """Our shape for the errors Flask and Werkzeug raise themselves (404, 405, 413, ...)."""
    template = HTTP_MESSAGES.get(error.code)
    headers = {}
    if error.code == 405:
        allowed = getattr(error, "valid_methods", None) or []
        headers["Allow"] = ", ".join(allowed)
        message = template.format(method=request.method, allowed=", ".join(allowed) or "none")
    elif error.code == 413:
        message = template.format(limit=current_app.config["MAX_CONTENT_LENGTH"])
    elif error.code == 429:
        # Flask-Limiter describes the limit ("10 per 1 hour") and adds Retry-After and X-RateLimit-*.
        message = template.format(limit=error.description)
    elif template:
        message = template
    else:
        message = error.description or error.name
    return failure(error.code or 500, message, headers=headers)


def driver_message(error):
    """The first line of what the database driver said, without the SQL or its parameters."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def database_unavailable(error):
    """Lost, refused, timed out or cancelled: the database is the problem, and it passes. 503, not 500."""
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeoutError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def render_error(error):
    """Turn any exception into a JSON failure; log the ones we did not expect."""
    if isinstance(error, ApiError):
        return failure(error.status, error.message, error.errors, error.headers, error.code)
    if isinstance(error, ValidationError):
        return validation_failure(error)
    if isinstance(error, HTTPException):
        return http_failure(error)
    if isinstance(error, (IntegrityError, StaleDataError)):
        # The driver's own message: str(error) would carry the statement's parameters, secrets included.
        current_app.logger.warning(
            "Conflict on %s %s: %s", request.method, request.path, driver_message(error)
        )
        return failure(409, CONFLICT)
    if database_unavailable(error):
        current_app.logger.warning(
            "Database unavailable on %s %s: %s", request.method, request.path, driver_message(error)
        )
        return failure(503, DATABASE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS})
    current_app.logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=error)
    return failure(500, SERVER_ERROR)


def register_errorhandlers(app):
    """Route every failure outside Flask-RESTful resources through render_error; document its answers."""
    app.register_error_handler(Exception, render_error)
    contribute(app, document_errors)


# The docs of this path: the shape of every failure, and the answers any operation can give.

ERROR_SCHEMA = schema(
    "Error",
    {
        "type": "object",
        "description": "Every failure, whoever raises it.",
        "required": ["status", "message"],
        "properties": {
            "status": {"type": "string", "enum": ["failed"]},
            "message": {"type": "string", "description": "One sentence a person can act on."},
            "code": {
                "type": "string",
                "pattern": "^[a-z][a-z0-9_]*$",
                "description": "A stable snake_case name of the failure, for scripts to match on.",
            },
            "request_id": {"type": "string", "description": "The request's id, as in its logs."},
            "errors": {
                "type": "object",
                "description": "For invalid input: the messages for each field, by field name.",
                "additionalProperties": True,
            },
        },
        "additionalProperties": False,
    },
)
RETRY_AFTER = shared_header(
    "Retry-After", "How many seconds to wait before trying again.", SECONDS, required=True
)
INVALID_EXAMPLE = {
    "status": "failed",
    "message": INVALID_INPUT.format(names="year"),
    "errors": {"year": ["Not a valid integer."]},
}


def error_answer(description, message, errors=None, headers=None, code=None):
    """The doc of a failure: an Answer in the Error schema, with an example message (code, field errors)."""
    example = {"status": "failed", "message": message}
    if code is not None:
        example["code"] = code
    if errors is not None:
        example["errors"] = errors
    return Answer(description, ERROR_SCHEMA, example, headers=headers or {})


BAD_REQUEST = shared_answer(
    "BadRequest",
    error_answer("The request itself is malformed: the server could not read it.", HTTP_MESSAGES[400]),
)
BODY_TOO_LARGE = shared_answer(
    "BodyTooLarge",
    error_answer("The body is too large.", HTTP_MESSAGES[413].format(limit=DEFAULT_MAX_CONTENT_LENGTH)),
)
UNSUPPORTED_MEDIA_TYPE = shared_answer(
    "UnsupportedMediaType", error_answer("The body is not sent as application/json.", HTTP_MESSAGES[415])
)
SERVER_FAILED = shared_answer(
    "ServerError", error_answer("Something unexpected went wrong (it is logged).", SERVER_ERROR)
)
# Answered by the server (phoenix/server.py) before the request reaches a route: any URL can give them.
SERVER_REFUSALS = {
    408: shared_answer(
        "RequestTimeout",
        error_answer(
            "The request's headers or body did not arrive in time (PHOENIX_CLIENT_TIMEOUT_S).",
            HTTP_MESSAGES[408],
            code="request_timeout",
        ),
    ),
    414: shared_answer(
        "UriTooLong",
        error_answer("The URL is longer than the server's limit.", HTTP_MESSAGES[414], code="uri_too_long"),
    ),
    431: shared_answer(
        "HeadersTooLarge",
        error_answer(
            "The request's headers are over the server's limits.",
            HTTP_MESSAGES[431],
            code="headers_too_large",
        ),
    ),
}
DATABASE_DOWN = shared_answer(
    "DatabaseUnavailable",
    error_answer(
        "The database cannot be reached or was too slow: retry after Retry-After seconds.",
        DATABASE_UNAVAILABLE,
        headers={"Retry-After": RETRY_AFTER},
    ),
)


def bad_request(has_parameters, has_body):
    """The 400 of an operation: of its parameters, its body, or both; else of a malformed request."""
    causes = []
    if has_parameters:
        causes.append("a parameter is not valid (an unknown query parameter included)")
    if has_body:
        causes.append(
            "the body is not valid JSON, not an object, or has invalid, unknown or read-only fields"
        )
    if not causes:
        return BAD_REQUEST
    description = " or ".join(causes) + "; `errors` says what each field needs."
    description = description[0].upper() + description[1:]
    if has_body:
        return error_answer(description, INVALID_EXAMPLE["message"], INVALID_EXAMPLE["errors"])
    return error_answer(description, INVALID_ID)


def document_errors(context):
    """The answers of this path that an operation can give (a spec contributor, phoenix.openapi)."""
    answers = {400: bad_request(context.has_parameters, context.has_body), 500: SERVER_FAILED}
    answers.update(SERVER_REFUSALS)
    if context.has_body:
        answers.update({413: BODY_TOO_LARGE, 415: UNSUPPORTED_MEDIA_TYPE})
    if context.declared.uses_database:
        answers[503] = DATABASE_DOWN
    return Feature(answers=answers)
