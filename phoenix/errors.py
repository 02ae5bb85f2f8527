"""The error shape, and the one path every failure takes to reach the client as JSON."""

from flask import current_app, request
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from phoenix.jsonio import json_response

INVALID_INPUT = "The request has invalid fields: {names}. See errors for what each needs."
INVALID_ITEMS = (
    "Items {indexes} of the array are invalid; nothing was created. See errors, by index and field."
)
DATABASE_UNAVAILABLE = "The database is unavailable right now. Please retry in a few seconds."
RETRY_AFTER_SECONDS = "5"
SERVER_ERROR = "Something went wrong on our side. It has been logged; please try again later."
CONFLICT = "The change conflicts with data already stored. Reload and try again."
# An answer names at most this many fields (or items, or parameters), each name at most this long.
MAX_FIELD_ERRORS = 50
MAX_NAME_LENGTH = 100

HTTP_MESSAGES = {
    400: "The request could not be understood. Check its syntax and try again.",
    404: "There is nothing at this URL. The routes are listed in the README and at /api/docs.",
    405: "The {method} method is not allowed on this URL. Allowed: {allowed}.",
    413: "The request body is larger than the limit of {limit} bytes.",
    415: "Send the body as JSON, with the header Content-Type: application/json.",
    429: "Too many requests: the limit here is {limit}. Try again after the seconds in Retry-After.",
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
    """A JSON failure response in the DESIGN shape."""
    body = {"status": "failed", "message": message}
    if code is not None:
        body["code"] = code
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
    if schema_level and len(messages) == 1 and isinstance(schema_level, list):
        message = schema_level[0]
    elif all(isinstance(name, int) for name in messages):  # a bulk create: errors by index
        messages, left_out = at_most(dict(sorted(messages.items())))
        indexes = and_more(", ".join(str(index) for index in messages), left_out)
        message = INVALID_ITEMS.format(indexes=indexes)
        messages = {str(index): item_messages for index, item_messages in messages.items()}
    else:
        messages, left_out = at_most(messages)
        message = INVALID_INPUT.format(names=and_more(", ".join(str(name) for name in messages), left_out))
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
    """Route every failure outside Flask-RESTful resources through render_error."""
    app.register_error_handler(Exception, render_error)
