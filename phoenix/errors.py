"""The error shape, and the one path every failure takes to reach the client as JSON; and their docs.

The shape ({status: "failed", message, code, errors?}) and the status codes are documented in the
README's "Errors" section; the spec's Error schema describes the same body. failure() builds a failed
response; error_answer() documents one (an Answer in the `Error` schema); the contributor
document_errors() gives every operation of the spec the answers of this path: 400 (the request, its
parameters or its body), 413 and 415 (a JSON body), 500 (any), 503 (the database).
"""

from flask import current_app, g, has_request_context, request
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from phoenix.config import DEFAULT_MAX_CONTENT_LENGTH
from phoenix.jsonio import json_response
from phoenix.openapi import SECONDS, Answer, Feature, contribute, schema, shared_answer, shared_header
from phoenix.request_ids import request_id

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

# Every code a failure can carry (DESIGN, "Responses"): scripts match these, not the sentences.
CODES = {
    "invalid_json": "The body is not JSON (or is empty).",
    "invalid_body": "The body is JSON of the wrong shape: not an object, an empty array, no field at all.",
    "invalid_fields": "Fields are invalid, unknown or read-only: errors names each.",
    "invalid_parameters": "Query parameters (or a header such as Idempotency-Key) are invalid.",
    "invalid_id": "The id in the URL is not a whole number.",
    "missing_username": "A Project Phoenix key route without a username.",
    "missing_number": "A Project Phoenix record route without a number.",
    "bad_request": "A request that could not be understood at all.",
    "ambiguous_credentials": "The api-key and Authorization headers name two different keys.",
    "not_authenticated": "No key, or an unknown one.",
    "key_revoked": "The key was revoked.",
    "key_expired": "The key expired.",
    "key_rotated": "The key was rotated away.",
    "registration_closed": "Self-service keys are turned off.",
    "cross_site": "Key creation from another site's page (Sec-Fetch-Site or Origin).",
    "reserved_username": "The username is kept for the operator's commands.",
    "missing_scope": "The key lacks the scope the call needs: X-Accepted-Scopes names it.",
    "not_owner": "Under the owner write policy, another username's item.",
    "not_found": "No such item, key, file or route.",
    "method_not_allowed": "The route does not take that method.",
    "request_timeout": "The client did not send its whole request in time.",
    "username_taken": "The username is taken, whatever its case.",
    "conflict": "The write conflicts with stored data or with another request.",
    "stale_version": "If-Match does not match the item's version.",
    "body_too_large": "The body is over MAX_CONTENT_LENGTH.",
    "uri_too_long": "The URL is over the server's limit.",
    "unsupported_media_type": "A write whose body is not application/json.",
    "idempotency_key_reused": "The Idempotency-Key came with another request.",
    "rate_limited": "A rate limit is used up: wait Retry-After seconds.",
    "quota_exceeded": "The username's daily quota of created items (PHOENIX_QUOTA_ROWS) is used up.",
    "headers_too_large": "The headers are over the server's limit.",
    "server_error": "Anything unexpected (logged with its traceback).",
    "not_implemented": "A method or transfer encoding the server does not implement (answered by gunicorn).",
    "expectation_failed": "An Expect header other than 100-continue (answered by gunicorn).",
    "database_unavailable": "The database is down or too slow: retry after Retry-After seconds.",
}
# The code of each status that Flask, Werkzeug or the server raise by themselves.
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "rate_limited",
    431: "headers_too_large",
}
# An answer names at most this many fields (or items, or parameters), each name at most this long.
MAX_FIELD_ERRORS = 50
MAX_NAME_LENGTH = 100

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
    """A JSON failure response in the DESIGN shape: message, code, the request's id, field errors."""
    body = {"status": "failed", "message": message}
    if code is not None:
        body["code"] = code
    body["request_id"] = request_id()
    if has_request_context():
        g.failure_code = code  # counted by phoenix.metrics
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status, headers)


def at_most(messages, limit=MAX_FIELD_ERRORS):
    """(the first `limit` field errors, names cut to MAX_NAME_LENGTH; how many more were left out).

    A body of a million unknown fields is answered with fifty, not with an answer bigger than itself.
    """
    kept = {}
    for name, field_messages in messages.items():
        if len(kept) == limit:
            break
        if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
            name = name[:MAX_NAME_LENGTH] + "..."
        if isinstance(field_messages, dict):  # one item of a bulk create: its own fields, capped alike
            field_messages = at_most(field_messages, limit)[0]
        kept[name] = field_messages
    return kept, len(messages) - len(kept)


def and_more(text, left_out):
    """text, with "(and N more)" when some were left out."""
    return f"{text} (and {left_out} more)" if left_out else text


def validation_failure(error):
    """400 for input that a schema refused, naming the fields (at most MAX_FIELD_ERRORS of them)."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    schema_level = messages.get("_schema")
    code = "invalid_fields"
    if schema_level and len(messages) == 1 and isinstance(schema_level, list):
        message = schema_level[0]  # about the body as a whole ("at least one field")
        code = "invalid_body"
    elif all(isinstance(name, int) for name in messages):  # a bulk create: errors by index
        messages, left_out = at_most(dict(sorted(messages.items())))
        indexes = and_more(", ".join(str(index) for index in messages), left_out)
        message = INVALID_ITEMS.format(indexes=indexes)
        messages = {str(index): item_messages for index, item_messages in messages.items()}
    else:
        messages, left_out = at_most(messages)
        message = INVALID_INPUT.format(names=and_more(", ".join(str(name) for name in messages), left_out))
    return failure(400, message, messages, code=code)


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
    status = error.code or 500
    code = HTTP_CODES.get(status) or ("server_error" if status >= 500 else "bad_request")
    return failure(status, message, headers=headers, code=code)


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
        return failure(409, CONFLICT, code="conflict")
    if database_unavailable(error):
        current_app.logger.warning(
            "Database unavailable on %s %s: %s", request.method, request.path, driver_message(error)
        )
        return failure(
            503,
            DATABASE_UNAVAILABLE,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
            code="database_unavailable",
        )
    current_app.logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=error)
    return failure(500, SERVER_ERROR, code="server_error")


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
                "enum": list(CODES),
                "description": 'A stable name of the failure, for scripts to match on (README, "Error codes").',
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
