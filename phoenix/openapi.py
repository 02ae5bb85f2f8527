"""The OpenAPI 3 description of the API, written from the URL map, the schemas and each resource's `docs`.

Every URL rule of the app is documented or the spec cannot be built: a resource class says what its
methods do in a `docs` dict of `Operation`s (method name -> Operation), and this module adds what the
app itself knows: path parameters (from the rule), the security scheme and the 401 answer (from
`require_api_key` in the resource's method_decorators), the 400/413/415 answers of a JSON body, the
429 of every rate-limited route (from phoenix.ratelimits), the 503 of every operation that needs the
database, the 500 of every operation, and the components of every collection (from its marshmallow
schema, never a second copy of a field).
"""

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from phoenix import idempotency
from phoenix.auth import CHALLENGE, NOT_AUTHENTICATED, require_api_key
from phoenix.concurrency import STALE
from phoenix.config import DEFAULT_MAX_CONTENT_LENGTH as MAX_BODY
from phoenix.errors import DATABASE_UNAVAILABLE, HTTP_MESSAGES, SERVER_ERROR
from phoenix.history import HISTORY
from phoenix.listing import BOUNDED_COST_DOCS, TOTAL_DOCS
from phoenix.ratelimits import UNLIMITED_ENDPOINTS
from phoenix.resources.base import MAX_BULK
from phoenix.schemas import HistorySchema, KeyRequestSchema, NeedsAValue, Text, UTCTimestamp

# Swagger UI 4 (the swagger-ui-bundle package) reads OpenAPI 3.0, not 3.1.
OPENAPI_VERSION = "3.0.3"
TITLE = "Phoenix"
VERSION = "1.0.0"
DESCRIPTION = (
    "A JSON REST API in which scripted clients keep two collections, **records** and **games**. "
    "Reads are public; every write is signed with an API key that a client makes for itself "
    "(`POST /api/keys`), sent as the `api-key` header or as `Authorization: Bearer <key>`, and "
    "stamps the item with the key's username (`lastmodifiedby`). Every failure is JSON: "
    '`{"status": "failed", "message": ..., "errors"?: {field: [messages]}}`.\n\n'
    "Items carry a version as a strong `ETag`: send it back in `If-Match` to write only over the "
    "version you read (412 otherwise), or in `If-None-Match` to read only what changed (304). "
    "Creates take an `Idempotency-Key` so that a retry never creates twice. Requests are rate "
    "limited (429 with `Retry-After`; every limited answer carries `X-RateLimit-Limit`, "
    "`X-RateLimit-Remaining` and `X-RateLimit-Reset`), and a database outage is a 503 with "
    "`Retry-After`, never a 500."
)

# The order in which Swagger UI shows the groups, and what each is.
TAGS = {
    "Records": "Free-form measurements: a timestamp and three values of different types.",
    "Games": "A video-game catalogue: name, platform, publisher, genre and year.",
    "Keys": "Self-service API keys. A key is shown once, in the answer that creates it.",
    "Project Phoenix": "The original Project Phoenix routes, kept for the clients written against them.",
    "Health": "For load balancers and orchestrators.",
    "Docs": "This reference, the landing page and the files they load.",
}

SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "api-key",
        "description": "The key from POST /api/keys.",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key as `Authorization: Bearer <key>`.",
    },
}
# Either scheme signs a write.
SECURITY = [{"ApiKey": []}, {"Bearer": []}]

ERROR = {
    "type": "object",
    "description": "Every failure, whoever raises it.",
    "required": ["status", "message"],
    "properties": {
        "status": {"type": "string", "enum": ["failed"]},
        "message": {"type": "string", "description": "One sentence a person can act on."},
        "code": {"type": "string", "description": "A stable snake_case name of the failure, for scripts."},
        "errors": {
            "type": "object",
            "description": "For invalid input: the messages for each field, by field name.",
            "additionalProperties": True,
        },
    },
    "additionalProperties": False,
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}

TEXT = {"type": "string"}
NULLABLE_TEXT = {"type": "string", "nullable": True}

BAD_PARAMETER_EXAMPLE = "The id must be a whole number, like 5."
INVALID_EXAMPLE = {
    "status": "failed",
    "message": "The request has invalid fields: year. See errors for what each needs.",
    "errors": {"year": ["Not a valid integer."]},
}


def header(description, schema=TEXT, required=False):
    """A response header, for Answer.headers; required: the answer always carries it."""
    return {"description": description, "required": required, "schema": schema}


@dataclass(frozen=True)
class Answer:
    """One documented response: what it means, its body and headers.

    headers: name -> a description (an optional string header) or header(...).
    """

    description: str
    schema: object = None
    example: object = None
    headers: Mapping = field(default_factory=dict)
    media_type: str = "application/json"


@dataclass(frozen=True)
class Operation:
    """What one method of one URL does: the declarative entry a resource gives in its `docs`.

    body: the JSON request body (a marshmallow schema, or JSON Schema that may hold the markers below),
    which may be left out when body_required is False; example: a request body example; query: the
    query parameters (a marshmallow schema, one parameter per field, or a list of OpenAPI parameter
    objects); parameters: more OpenAPI parameter objects (request headers such as If-Match); answers:
    status code -> Answer, on top of those that every operation (EVERY_OPERATION), every keyed one
    (KEYED_OPERATION), every rate-limited one (LIMITED_OPERATION) and every one that needs the database
    (DATABASE_OPERATION, unless uses_database is False) can give.
    """

    summary: str
    tag: str
    description: str = ""
    body: object = None
    body_required: bool = True
    example: object = None
    query: object = None
    parameters: tuple = ()
    answers: Mapping = field(default_factory=dict)
    operation_id: str = ""
    uses_database: bool = True


@dataclass(frozen=True)
class Item:
    """A reference to a collection's item schema: "output" (in answers), "input" (POST, PUT), "patch"."""

    collection: object
    variant: str = "output"


@dataclass(frozen=True)
class Envelope:
    """A success body: status "success", every field of a schema if one is given, and named parts."""

    schema: object
    parts: Mapping
    optional: tuple = ()


def success(schema=None, optional=(), **parts):
    """The body of a success: {"status": "success", <schema's fields>, <parts>}.

    Every property is always there, except the parts named in optional (e.g. a total sent on request).
    """
    return Envelope(schema, parts, tuple(optional))


def array_of(items, **limits):
    """A JSON array of items; limits: minItems, maxItems."""
    return {"type": "array", "items": items, **limits}


def failure(description, message, errors=None, headers=None):
    """An answer in the error shape, with an example message."""
    example = {"status": "failed", "message": message}
    if errors is not None:
        example["errors"] = errors
    return Answer(description, ERROR_REF, example, headers=headers or {})


SECONDS = {"type": "integer", "minimum": 0}
RETRY_AFTER = header("How many seconds to wait before trying again.", SECONDS, required=True)
ETAG = header('The item\'s version, as a strong ETag (`"3"`).', required=True)

# The answers that any operation can give; any operation that needs a key; any that is rate limited
# (every route but the health checks: phoenix.ratelimits); any that needs the database.
EVERY_OPERATION = {
    500: failure("Something unexpected went wrong (it is logged).", SERVER_ERROR),
}
KEYED_OPERATION = {
    401: failure(
        "No key, or one that is unknown, malformed, revoked, expired or rotated away: the message says "
        "which.",
        NOT_AUTHENTICATED,
        headers={
            "WWW-Authenticate": header(
                "The scheme to use: a Bearer token (or the `api-key` header).",
                {"type": "string", "enum": [CHALLENGE["WWW-Authenticate"]]},
                required=True,
            )
        },
    ),
}
LIMITED_OPERATION = {
    429: failure(
        "Too many requests from this client (or, for a signed write, this key): wait Retry-After seconds.",
        HTTP_MESSAGES[429].format(limit="600 per 1 minute"),
        headers={
            "Retry-After": RETRY_AFTER,
            "X-RateLimit-Limit": header("How many requests the limit allows a window.", SECONDS, True),
            "X-RateLimit-Remaining": header("How many are left in this window: 0.", SECONDS, True),
            "X-RateLimit-Reset": header("When the window ends, as a Unix time.", SECONDS, True),
        },
    ),
}
DATABASE_OPERATION = {
    503: failure(
        "The database cannot be reached or was too slow: retry after Retry-After seconds.",
        DATABASE_UNAVAILABLE,
        headers={"Retry-After": RETRY_AFTER},
    ),
}

# The request headers of optimistic concurrency and of idempotent creates.
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "description": 'Write only if the item is still at this version: its `ETag` (`"3"`), or `*` for any. '
    "A list separated by commas names several. Otherwise 412, and nothing is written.",
    "schema": TEXT,
    "example": '"1"',
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "description": "The `ETag` of the copy you hold: 304, with no body, while it is still the current one.",
    "schema": TEXT,
    "example": '"1"',
}
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": idempotency.HEADER,
    "description": "Any unique value of yours (a UUID, say): within 24 hours, a retry with the same key and "
    "body gets the first answer again (with `Idempotent-Replayed: true`) and creates nothing.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": idempotency.MAX_KEY_LENGTH,
        # Printable ASCII, not only spaces (the server trims them).
        "pattern": "^[ -~]*[!-~][ -~]*$",
    },
    "example": "6f1c9e0a-4b7d-4c2e-9a51-3d8e7f2b1c04",
}
REPLAYED = {
    "Idempotent-Replayed": header(
        "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.",
        {"type": "string", "enum": ["true"]},
    )
}
KEY_REUSED = failure(
    "The Idempotency-Key was already used with a different request (another body or route).",
    idempotency.REUSED,
    {idempotency.HEADER: ["Already used with a different request."]},
)


# <id>, <path:filename>: a werkzeug placeholder, with or without its converter.
PLACEHOLDER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")

# Path parameters are named the same on every route: what each one is, by name.
PATH_PARAMETERS = {
    "id": {
        "description": "The item's id: a whole number.",
        "schema": {"type": "integer", "minimum": 1},
        "example": 1,
    },
    "username": {
        "description": "The username to register: 1 to 64 letters, digits, `_`, `.` or `-`.",
        "schema": KeyRequestSchema().fields["username"],
        "example": "sumit",
    },
    "filename": {"description": "The file's name.", "schema": TEXT},
}


def page_of(name, items, what, countable=False):
    """The 200 of a paged listing: {status, <name>: [items], next_cursor, links: {next}}, and its Link;
    with countable, also total when count=exact asks for it."""
    return Answer(
        f"A page of {what}.",
        success(
            optional=tuple(TOTAL_DOCS) if countable else (),
            **(TOTAL_DOCS if countable else {}),
            **{
                name: array_of(items),
                "next_cursor": {**NULLABLE_TEXT, "description": "The cursor of the next page."},
                "links": {
                    "type": "object",
                    "required": ["next"],
                    "properties": {"next": {**NULLABLE_TEXT, "description": "The next page's URL."}},
                    "additionalProperties": False,
                },
            },
        ),
        headers={"Link": f'The next page, as `<url>; rel="next"`, when more {what} remain.'},
    )


def stored(example, id=1):
    """An item as an answer shows it: a request example, with what the server adds."""
    stamp = "2026-11-22T01:02:03.456789+00:00"
    return {
        "id": id,
        **example,
        "creationdate": stamp,
        "lastmodificationdate": stamp,
        "lastmodifiedby": "sumit",
    }


def not_found(collection):
    """The 404 of an item route."""
    return failure(f"There is no {collection.singular} with that id.", collection.not_found)


def stale(collection):
    """The 412 of a write whose If-Match names a version that is no longer the item's."""
    message = STALE.format(name=collection.singular, etag='"4"')
    return failure(
        "If-Match does not name the current version: nothing was written. Read the item again and retry.",
        message,
        headers={"ETag": {**ETAG, "description": "The item's current version."}},
    )


def collection_docs(collection, example):
    """The operations of a collection's URL (/api/records): list, create. example: a README body."""
    singular, plural = collection.singular, collection.plural
    return {
        "get": Operation(
            summary=f"List {plural}",
            tag=plural.title(),
            description=f"{plural.title()} one page at a time, in the order of `sort` (default: by id; "
            "`-` for descending, `id` breaks ties), narrowed by the filters; the next page is at "
            "`links.next` (and in the `Link` header), and `next_cursor` is null on the last page. "
            "`count=exact` adds `total`. Any other query parameter, or a bad value, is a 400. "
            + BOUNDED_COST_DOCS,
            # The very schema that reads the listing's query parameters: one parameter a field.
            query=collection.listing.parameters,
            answers={200: page_of(plural, Item(collection), plural, countable=True)},
        ),
        "post": Operation(
            summary=f"Create a {singular}, or up to {MAX_BULK} at once",
            tag=plural.title(),
            description=f"Stamped with the key's username (`lastmodifiedby`). An array of 1 to {MAX_BULK} "
            f"{plural} is created all or nothing: if one is invalid, nothing is, and `errors` names each "
            "bad one by its index. With an `Idempotency-Key`, a retry creates nothing again.",
            body={
                "oneOf": [
                    Item(collection, "input"),
                    array_of(Item(collection, "input"), minItems=1, maxItems=MAX_BULK),
                ]
            },
            example=example,
            parameters=[IDEMPOTENCY_KEY],
            answers={
                201: Answer(
                    f"The {singular} as stored (with its URL and ETag); for an array, the {plural}.",
                    {
                        "oneOf": [
                            success(**{singular: Item(collection)}),
                            success(**{plural: array_of(Item(collection))}),
                        ]
                    },
                    headers={
                        "Location": f"The new {singular}'s URL (one {singular} only).",
                        "ETag": {**ETAG, "required": False, "description": "Its version (one only)."},
                        **REPLAYED,
                    },
                ),
                422: KEY_REUSED,
            },
        ),
    }


def item_docs(collection, example, patch_example):
    """The operations of an item's URL (/api/records/<id>): read, replace, change, remove."""
    singular, plural = collection.singular, collection.plural
    tag = plural.title()
    one = Answer(f"The {singular}.", success(**{singular: Item(collection)}), headers={"ETag": ETAG})
    written = {200: one, 404: not_found(collection), 412: stale(collection)}
    return {
        "get": Operation(
            summary=f"Read a {singular}",
            tag=tag,
            parameters=[IF_NONE_MATCH],
            answers={
                200: one,
                304: Answer(
                    f"Not modified: If-None-Match names the {singular}'s current version.",
                    headers={"ETag": ETAG},
                ),
                404: not_found(collection),
            },
        ),
        "put": Operation(
            summary=f"Replace a {singular}",
            tag=tag,
            description="Every field is replaced: fields left out become null.",
            body=Item(collection, "input"),
            example=example,
            parameters=[IF_MATCH],
            answers=written,
        ),
        "patch": Operation(
            summary=f"Change some fields of a {singular}",
            tag=tag,
            description="Only the fields sent change; `null` clears a field.",
            body=Item(collection, "patch"),
            example=patch_example,
            parameters=[IF_MATCH],
            answers=written,
        ),
        "delete": Operation(
            summary=f"Remove a {singular}",
            tag=tag,
            description=f"Its history stays: `GET /api/{plural}/{{id}}/history` still answers.",
            parameters=[IF_MATCH],
            answers={
                **written,
                200: Answer(
                    f"The {singular} as it was.",
                    success(**{singular: Item(collection), "message": TEXT}),
                    {
                        "status": "success",
                        singular: stored(example),
                        "message": f"The {singular} 1 has been removed.",
                    },
                ),
            },
        ),
    }


def history_docs(collection):
    """The operation of an item's history URL (/api/records/<id>/history)."""
    singular, plural = collection.singular, collection.plural
    return {
        "get": Operation(
            summary=f"The history of a {singular}",
            tag=plural.title(),
            description="Every change, oldest first, one page at a time (as the lists are paged); "
            f"`changes` holds each field that changed as `[old, new]`. It still answers after the "
            f"{singular} is removed; 404 only for an id that never was.",
            query=HISTORY.parameters,
            answers={
                200: page_of("history", HistorySchema, "changes"),
                404: not_found(collection),
            },
        ),
    }


def key_required(view_class, method):
    """Whether a resource's method is wrapped in require_api_key (Flask-RESTful's method_decorators)."""
    decorators = view_class.method_decorators
    if isinstance(decorators, Mapping):
        decorators = decorators.get(method, [])
    return require_api_key in decorators


class SpecWriter:
    """Turns the declarations into an apispec APISpec: resolves markers, adds what the app knows."""

    def __init__(self):
        self.plugin = MarshmallowPlugin()
        self.spec = APISpec(
            title=TITLE,
            version=VERSION,
            openapi_version=OPENAPI_VERSION,
            plugins=[self.plugin],
            info={"description": DESCRIPTION},
        )
        self.plugin.converter.map_to_openapi_type(UTCTimestamp, "string", "date-time")
        self.plugin.converter.add_attribute_function(text_rules)
        for name, scheme in SECURITY_SCHEMES.items():
            self.spec.components.security_scheme(name, scheme)
        self.spec.components.schema("Error", ERROR)
        self.registered = set()
        self.tags = []

    def ref(self, name, build):
        """A $ref to a component, registering it (from build()) the first time."""
        if name not in self.registered:
            self.spec.components.schema(name, build())
            self.registered.add(name)
        return {"$ref": f"#/components/schemas/{name}"}

    def marshmallow(self, schema):
        """A $ref to the component of a marshmallow schema, named after its class."""
        instance = schema() if isinstance(schema, type) else schema
        name = type(instance).__name__.removesuffix("Schema")

        def build():
            component = self.json_schema(instance)
            if not instance.load_fields:
                # Only ever dumped (an answer): every field is always there, null where unset.
                component["required"] = list(component["properties"])
            return component

        return self.ref(name, build)

    def json_schema(self, schema):
        """The JSON Schema of a marshmallow schema, as apispec writes it."""
        instance = schema() if isinstance(schema, type) else schema
        return self.plugin.converter.schema2jsonschema(instance)

    def item(self, marker):
        """The component of a collection's item: every field present in answers; writable ones in bodies."""
        collection, variant = marker.collection, marker.variant
        schema = collection.schema
        name = collection.singular.capitalize() + {"output": "", "input": "Input", "patch": "Patch"}[variant]

        def build():
            if variant == "output":
                component = self.json_schema(schema)
                component["description"] = first_line(type(schema).__doc__)
                # An answer always carries every field (null when unset).
                component["required"] = list(component["properties"])
                return component
            writable = tuple(schema.load_fields)
            component = self.json_schema(type(schema)(only=writable, partial=variant == "patch"))
            if variant == "patch":
                component["minProperties"] = 1  # BaseSchema.require_a_change
            elif isinstance(schema, NeedsAValue):
                component["anyOf"] = [
                    {"required": [name], "properties": {name: without_null(value)}}
                    for name, value in component["properties"].items()
                ]
            component["description"] = first_line(type(schema).__doc__)
            return component

        return self.ref(name, build)

    def envelope(self, marker):
        """A success body as JSON Schema: all its properties required, nothing else allowed."""
        properties = {"status": {"type": "string", "enum": ["success"]}}
        if marker.schema is not None:
            properties.update(self.json_schema(marker.schema)["properties"])
        properties.update({name: self.resolve(part) for name, part in marker.parts.items()})
        return {
            "type": "object",
            "required": [name for name in properties if name not in marker.optional],
            "properties": properties,
            "additionalProperties": False,
        }

    def resolve(self, value):
        """JSON Schema with every marker (Item, Envelope, marshmallow schema) replaced by what it means."""
        if isinstance(value, Item):
            return self.item(value)
        if isinstance(value, Envelope):
            return self.envelope(value)
        if isinstance(value, Schema) or (isinstance(value, type) and issubclass(value, Schema)):
            return self.marshmallow(value)
        if isinstance(value, Mapping):
            return {key: self.resolve(part) for key, part in value.items()}
        if isinstance(value, list):
            return [self.resolve(part) for part in value]
        return value

    def path_parameters(self, rule):
        """The rule's placeholders as OpenAPI path parameters."""
        parameters = []
        for name in rule.arguments:
            if name not in PATH_PARAMETERS:
                raise LookupError(
                    f"No description of the path parameter {name!r} in phoenix.openapi.PATH_PARAMETERS"
                )
            declared = dict(PATH_PARAMETERS[name])
            if not isinstance(declared["schema"], Mapping):
                declared["schema"] = self.plugin.converter.field2property(declared["schema"])
            parameters.append({"in": "path", "name": name, "required": True, **declared})
        return parameters

    def query_parameters(self, query):
        """An operation's query parameters: from a marshmallow schema, or as given."""
        if query is None:
            return []
        if isinstance(query, Schema) or (isinstance(query, type) and issubclass(query, Schema)):
            instance = query() if isinstance(query, type) else query
            return self.plugin.converter.schema2parameters(instance, location="query")
        return [dict(parameter) for parameter in query]

    def answer(self, answer):
        """An Answer as an OpenAPI response object."""
        response = {"description": answer.description}
        if answer.schema is not None:
            media = {"schema": self.resolve(answer.schema)}
            if answer.example is not None:
                media["example"] = answer.example
            response["content"] = {answer.media_type: media}
        if answer.headers:
            response["headers"] = {
                name: {"description": text, "schema": TEXT} if isinstance(text, str) else dict(text)
                for name, text in answer.headers.items()
            }
        return response

    def operation(self, rule, view_class, method, declared):
        """One operation object: the declaration plus what the app itself knows about it."""
        parameters = (
            self.path_parameters(rule)
            + self.query_parameters(declared.query)
            + [dict(parameter) for parameter in declared.parameters]
        )
        answers = dict(declared.answers)
        operation = {
            "operationId": declared.operation_id or f"{method}_{rule.endpoint}",
            "summary": declared.summary,
            "tags": [declared.tag],
        }
        if declared.description:
            operation["description"] = declared.description
        if parameters:
            operation["parameters"] = parameters
        if declared.body is not None:
            media = {"schema": self.resolve(declared.body)}
            if declared.example is not None:
                media["example"] = declared.example
            operation["requestBody"] = {
                "required": declared.body_required,
                "content": {"application/json": media},
            }
            answers.setdefault(
                413, failure("The body is too large.", HTTP_MESSAGES[413].format(limit=MAX_BODY))
            )
            answers.setdefault(415, failure("The body is not sent as application/json.", HTTP_MESSAGES[415]))
        if 400 not in answers and (parameters or declared.body is not None):
            answers[400] = bad_request(parameters, declared.body is not None)
        common = dict(EVERY_OPERATION)
        if key_required(view_class, method):
            operation["security"] = SECURITY
            common.update(KEYED_OPERATION)
        if rule.endpoint not in UNLIMITED_ENDPOINTS:
            common.update(LIMITED_OPERATION)
        if declared.uses_database:
            common.update(DATABASE_OPERATION)
        for code, answer in common.items():
            answers.setdefault(code, answer)
        operation["responses"] = {str(code): self.answer(answer) for code, answer in sorted(answers.items())}
        if declared.tag not in self.tags:
            self.tags.append(declared.tag)
        return operation

    def add_rule(self, rule, view_class):
        """Document every method of one URL rule; refuse a method that its resource does not describe."""
        docs = getattr(view_class, "docs", None) or {}
        operations = {}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            method = method.lower()
            if method not in docs:
                raise LookupError(
                    f"{method.upper()} {rule.rule} ({view_class.__name__}) has no OpenAPI description: "
                    f'add "{method}": Operation(...) to {view_class.__name__}.docs'
                )
            operations[method] = self.operation(rule, view_class, method, docs[method])
        self.spec.path(path=openapi_path(rule), operations=operations)

    def to_dict(self):
        spec = self.spec.to_dict()
        spec["tags"] = [
            {"name": tag, "description": TAGS[tag]} if tag in TAGS else {"name": tag} for tag in self.tags
        ]
        spec["tags"].sort(key=lambda tag: list(TAGS).index(tag["name"]) if tag["name"] in TAGS else len(TAGS))
        return spec


def bad_request(parameters, has_body):
    """The 400 of an operation that takes parameters, a body, or both."""
    causes = []
    if parameters:
        causes.append("a parameter is not valid (an unknown query parameter included)")
    if has_body:
        causes.append(
            "the body is not valid JSON, not an object, or has invalid, unknown or read-only fields"
        )
    description = " or ".join(causes) + "; `errors` says what each field needs."
    description = description[0].upper() + description[1:]
    if has_body:
        return failure(description, INVALID_EXAMPLE["message"], INVALID_EXAMPLE["errors"])
    return failure(description, BAD_PARAMETER_EXAMPLE)


def without_null(property_schema):
    """A property's schema, null no longer allowed."""
    return {key: value for key, value in property_schema.items() if key != "nullable"}


def first_line(text):
    """The first line of a docstring."""
    return (text or "").strip().splitlines()[0] if text and text.strip() else ""


def text_rules(self, field, **kwargs):
    """What a Text field refuses, for the spec: blank values where it trims (apispec attribute function)."""
    if isinstance(field, Text) and field.trim:
        return {"minLength": 1, "pattern": r"\S"}
    return {}


def openapi_path(rule):
    """A werkzeug rule as an OpenAPI path: /api/records/<id> -> /api/records/{id}."""
    return PLACEHOLDER.sub(r"{\1}", rule.rule)


def build_spec(app):
    """The OpenAPI document of app, as a dict: every URL rule, every method but HEAD and OPTIONS."""
    writer = SpecWriter()
    with warnings.catch_warnings():
        # apispec warns about Meta.fields; our schemas declare every field they list there.
        warnings.filterwarnings("ignore", message="Only explicitly-declared fields", category=UserWarning)
        for rule in sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint)):
            view = app.view_functions[rule.endpoint]
            writer.add_rule(rule, getattr(view, "view_class", view))
        return writer.to_dict()


def spec_for(app):
    """The app's OpenAPI document, built once (the URL map does not change once the app is made)."""
    if "phoenix.openapi" not in app.extensions:
        app.extensions["phoenix.openapi"] = build_spec(app)
    return app.extensions["phoenix.openapi"]
