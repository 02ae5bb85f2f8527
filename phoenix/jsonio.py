"""JSON out: the success envelope (built here at run time, and described here for the spec), encoded with orjson.

Failures have their own shape and path: phoenix/errors.py.
"""

import orjson
from flask import Response

from phoenix.openapi import TEXT, Component

SUCCESS = "success"


def success(**parts):
    """The body of a success: {"status": "success", **parts}."""
    return {"status": SUCCESS, **parts}


def envelope(name, schema=None, optional=(), description="", **parts):
    """The spec of what success(...) builds, as the named schema component `name`.

    schema: a marshmallow schema whose fields are spread into the body (a new key's); parts: name -> JSON
    Schema (or a Component, or a marshmallow schema); every property is always there, except those named
    in optional (a total sent on request, say).
    """

    def build(writer):
        properties = {"status": {"type": "string", "enum": [SUCCESS]}}
        if schema is not None:
            properties.update(writer.json_schema(schema)["properties"])
        properties.update({part: writer.resolve(value) for part, value in parts.items()})
        body = {
            "type": "object",
            "required": [part for part in properties if part not in optional],
            "properties": properties,
            "additionalProperties": False,
        }
        if description:
            body["description"] = description
        return body

    return Component("schemas", name, build)


# A success that says only what happened (/health, the Project Phoenix remove).
MESSAGE = envelope("Message", description="A success that says only what happened.", message=TEXT)


def dumps(data):
    """Encode a response body (orjson: several times faster than the standard library)."""
    return orjson.dumps(data)


def json_response(data, status=200, headers=None):
    """A Flask response carrying data as JSON."""
    response = Response(dumps(data), status=status, mimetype="application/json")  # the app's response_class
    if headers:
        response.headers.extend(headers)
    return response
