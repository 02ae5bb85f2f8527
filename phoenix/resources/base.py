"""The machinery that records and games share: reading input, finding, creating, changing, removing; and its docs.

A Collection is the data that makes records and games differ; its `docs` are the named schemas of its
bodies, and collection_docs, item_docs and history_docs describe the operations of its three URLs.
"""

from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace

import orjson
from flask import Response, g, request, url_for
from marshmallow import ValidationError
from sqlalchemy import bindparam, insert, select
from werkzeug.exceptions import HTTPException

from phoenix.auth import require_api_key, stamp_modification
from phoenix.concurrency import (
    ETAG,
    READS_VERSION,
    WRITES_VERSION,
    etag,
    not_modified,
    require_current_version,
)
from phoenix.database import Prepared, autocommit, core_transaction, write_transaction
from phoenix.errors import INVALID_ID, NOT_JSON, ApiError, error_answer
from phoenix.extensions import db
from phoenix.history import HISTORY, history_of, record_change, record_creations, record_removal, snapshot
from phoenix.idempotency import HEADER as IDEMPOTENCY_HEADER
from phoenix.idempotency import IDEMPOTENT, idempotent
from phoenix.jsonio import envelope, success
from phoenix.listing import BOUNDED_COST_DOCS, TOTAL_DOCS, Listing, link_header, list_page, next_link
from phoenix.models import MAX_ID
from phoenix.openapi import NULLABLE_TEXT, TEXT, Answer, Operation, Tag, array_of, header, schema
from phoenix.permissions import owned_feature, require_owner, require_scope
from phoenix.ratelimits import use_quota
from phoenix.resources.resource import PhoenixResource
from phoenix.schemas import HistorySchema, NeedsAValue, dumper, history_schema, row_dumper

MAX_BULK = 1000
EMPTY_BODY = "The request body is empty: send a JSON object."


@dataclass(frozen=True)
class Collection:
    """What makes records and games differ: the data, not the code."""

    model: type
    schema: object
    singular: str
    plural: str
    not_found: str
    listing: Listing  # what its list filters and sorts on
    description: str  # one line about it: the spec's tag, the landing page

    @cached_property
    def tag(self):
        """The spec's group of this collection's operations."""
        return Tag(self.plural.title(), self.description)

    @cached_property
    def docs(self):
        """The named schemas of its bodies, for the spec (CollectionDocs)."""
        return CollectionDocs(self)

    write_scope: str  # the scope a key needs to write it (phoenix.permissions)

    @cached_property
    def dump(self):
        """The schema's dump, fast (phoenix.schemas.dumper): of an ORM object or a Row."""
        return dumper(self.schema)

    @cached_property
    def dump_row(self):
        """The schema's dump of a Row of the table's columns (as lists and reads select them)."""
        return row_dumper(self.schema, self.model.__table__.columns.keys())

    @cached_property
    def insert(self):
        """INSERT items, RETURNING their rows as stored, in the order given (prepared: every create)."""
        table = self.model.__table__
        return Prepared(insert(table).returning(*table.columns, sort_by_parameter_order=True))

    @cached_property
    def by_id(self):
        """SELECT the item's columns by id: a Row, lighter than an ORM object, for reads (prepared: the
        hottest read there is)."""
        table = self.model.__table__
        return Prepared(select(*table.columns).where(table.c.id == bindparam("id")))


# The docs of the machinery above: what the bodies are and what each operation does.

ID = {
    "description": "The item's id: a whole number.",
    "schema": {"type": "integer", "minimum": 1},
    "example": 1,
}
STAMP = "2026-11-22T01:02:03.456789+00:00"
LINKS = schema(
    "Links",
    {
        "type": "object",
        "description": "Where the next page is.",
        "required": ["next"],
        "properties": {
            "next": {**NULLABLE_TEXT, "description": "The next page's URL; null on the last page."}
        },
        "additionalProperties": False,
    },
)
NEXT_CURSOR = {**NULLABLE_TEXT, "description": "The cursor of the next page; null on the last page."}


def next_page_header(what):
    """The Link header of a page."""
    return {"Link": f'The next page, as `<url>; rel="next"`, when more {what} remain.'}


def page_envelope(name, part, items, countable=False):
    """The named schema of a page: {status, <part>: [items], next_cursor, links}, and total if countable."""
    extra = TOTAL_DOCS if countable else {}
    return envelope(
        name,
        optional=tuple(extra),
        description=f"A page of {part}.",
        **{part: array_of(items)},
        next_cursor=NEXT_CURSOR,
        links=LINKS,
        **extra,
    )


HISTORY_PAGE = page_envelope("HistoryPage", "history", HistorySchema)


class CollectionDocs:
    """The named schemas of a collection's bodies: Record, RecordInput, RecordPatch, RecordEnvelope, ..."""

    def __init__(self, collection):
        name, what = collection.singular.capitalize(), collection.description
        self.collection = collection
        self.item = schema(name, lambda writer: self.output(writer, what))
        self.input = schema(f"{name}Input", lambda writer: self.writable(writer, what, partial=False))
        self.patch = schema(f"{name}Patch", lambda writer: self.writable(writer, what, partial=True))
        self.envelope = envelope(
            f"{name}Envelope",
            optional=("message",),
            description=f"One {collection.singular}; on removal, with a message.",
            **{collection.singular: self.item},
            message=TEXT,
        )
        self.batch = envelope(
            f"{name}Batch",
            description=f"The {collection.plural} of a bulk create, in the order sent.",
            **{collection.plural: array_of(self.item)},
        )
        self.page = page_envelope(f"{name}Page", collection.plural, self.item, countable=True)

    def output(self, writer, what):
        """An item in answers: every field, always there (null when unset)."""
        component = writer.json_schema(self.collection.schema)
        component["description"] = what
        component["required"] = list(component["properties"])
        return component

    def writable(self, writer, what, partial):
        """An item in bodies: the writable fields; PATCH (partial) any of them, at least one."""
        schema_class = type(self.collection.schema)
        component = writer.json_schema(
            schema_class(only=tuple(self.collection.schema.load_fields), partial=partial)
        )
        if partial:
            component["minProperties"] = 1  # BaseSchema.require_a_change
            component["description"] = f"{what} Send at least one field; null clears one."
        elif isinstance(self.collection.schema, NeedsAValue):
            # One model for generators: the rule ("at least one field with a value") is said, and checked by
            # the API; a JSON Schema anyOf of four would make four.
            component["minProperties"] = 1
            component["description"] = f"{what} At least one field must have a value (not null)."
        else:
            component["description"] = what
        return component

    def example(self, example, id=1):
        """An item as an answer shows it: a request example, with what the server adds."""
        return {
            "id": id,
            **example,
            "creationdate": STAMP,
            "lastmodificationdate": STAMP,
            "lastmodifiedby": "sumit",
        }


def not_found(collection):
    """The 404 of an item route."""
    return error_answer(f"There is no {collection.singular} with that id.", collection.not_found)


def collection_docs(collection, example):
    """The operations of a collection's URL (/api/records): list, create. example: a README body."""
    singular, plural, docs = collection.singular, collection.plural, collection.docs
    return {
        "get": Operation(
            summary=f"List {plural}",
            tag=collection.tag,
            description=f"{plural.title()} one page at a time, in the order of `sort` (default: by id; "
            "`-` for descending, `id` breaks ties), narrowed by the filters; the next page is at "
            "`links.next` (and in the `Link` header), and `next_cursor` is null on the last page. "
            "`count=exact` adds `total`. Any other query parameter, or a bad value, is a 400. "
            + BOUNDED_COST_DOCS,
            # The very schema that reads the listing's query parameters: one parameter a field.
            query=collection.listing.parameters,
            answers={200: Answer(f"A page of {plural}.", docs.page, headers=next_page_header(plural))},
        ),
        "post": Operation(
            summary=f"Create a {singular}, or up to {MAX_BULK} at once",
            tag=collection.tag,
            description=f"Stamped with the key's username (`lastmodifiedby`). An array of 1 to {MAX_BULK} "
            f"{plural} is created all or nothing: if one is invalid, nothing is, and `errors` names each "
            "bad one by its index. With an `Idempotency-Key`, a retry creates nothing again.",
            body={"oneOf": [docs.input, array_of(docs.input, minItems=1, maxItems=MAX_BULK)]},
            example=example,
            features=(IDEMPOTENT,),
            answers={
                201: Answer(
                    f"The {singular} as stored (with its URL and ETag); for an array, the {plural}.",
                    {"oneOf": [docs.envelope, docs.batch]},
                    headers={
                        "Location": f"The new {singular}'s URL (one {singular} only).",
                        "ETag": header("Its version (one only).", required=False),
                    },
                ),
            },
        ),
    }


def item_docs(collection, example, patch_example):
    """The operations of an item's URL (/api/records/<id>): read, replace, change, remove."""
    singular, plural, docs = collection.singular, collection.plural, collection.docs
    one = Answer(f"The {singular}.", docs.envelope, headers={"ETag": ETAG})
    written = {200: one, 404: not_found(collection)}
    owned = owned_feature(collection.write_scope)  # the owner policy's 403 beside the scope's
    return {
        "get": Operation(
            summary=f"Read a {singular}",
            tag=collection.tag,
            features=(READS_VERSION,),
            answers={200: one, 404: not_found(collection)},
        ),
        "put": Operation(
            summary=f"Replace a {singular}",
            tag=collection.tag,
            description="Every field is replaced: fields left out become null.",
            body=docs.input,
            example=example,
            features=(WRITES_VERSION, owned),
            answers=written,
        ),
        "patch": Operation(
            summary=f"Change some fields of a {singular}",
            tag=collection.tag,
            description="Only the fields sent change; `null` clears a field.",
            body=docs.patch,
            example=patch_example,
            features=(WRITES_VERSION, owned),
            answers=written,
        ),
        "delete": Operation(
            summary=f"Remove a {singular}",
            tag=collection.tag,
            description=f"Its history stays: `GET /api/{plural}/{{id}}/history` still answers.",
            features=(WRITES_VERSION, owned),
            answers={
                **written,
                200: Answer(
                    f"The {singular} as it was.",
                    docs.envelope,
                    success(
                        **{singular: docs.example(example)},
                        message=removed_message(collection, 1),
                    ),
                ),
            },
        ),
    }


def history_docs(collection):
    """The operation of an item's history URL (/api/records/<id>/history)."""
    return {
        "get": Operation(
            summary=f"The history of a {collection.singular}",
            tag=collection.tag,
            description="Every change, oldest first, one page at a time (as the lists are paged); "
            f"`changes` holds each field that changed as `[old, new]`. It still answers after the "
            f"{collection.singular} is removed; 404 only for an id that never was.",
            query=HISTORY.parameters,
            answers={
                200: Answer("A page of changes.", HISTORY_PAGE, headers=next_page_header("changes")),
                404: not_found(collection),
            },
        ),
    }


def removed_message(collection, item_id):
    """What a DELETE answers beside the item as it was."""
    return f"The {collection.singular} {item_id} has been removed."


def read_json_body(allow_array=False):
    """The request body as a JSON object (or array, where allowed), or an ApiError saying why not."""
    current = request._get_current_object()  # one lookup of the context-local (request_ids.request_id)
    if not current.is_json:
        raise ApiError(415, NOT_JSON, code="unsupported_media_type")
    raw = current.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug raises 413
    if not raw.strip():
        raise ApiError(400, EMPTY_BODY, code="invalid_json")
    try:
        # orjson is strict: NaN, Infinity, lone surrogates and bad UTF-8 are refused.
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"The request body is not valid JSON ({error}).", code="invalid_json") from None
    if isinstance(data, dict) or (allow_array and isinstance(data, list)):
        return data
    expected = "a JSON object or an array of objects" if allow_array else "a JSON object"
    raise ApiError(400, f"The request body must be {expected}.", code="invalid_body")


def whole_number(raw, maximum):
    """raw as an int from 0 to maximum, or None.

    ASCII digits only: str.isdigit() also says yes to "²" and "٣", which int() refuses or misreads; and
    the length is checked before int() reads it, so a 5000-digit value is just a bad one.
    """
    if not (raw.isascii() and raw.isdigit()):
        return None
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(maximum)) or int(digits) > maximum:
        return None
    return int(digits)


def item_id_or_404(collection, raw_id, message=INVALID_ID):
    """The integer id in a URL; 400 (with message) if it is not a number, 404 if no item could have it."""
    if not (raw_id.isascii() and raw_id.isdigit()):
        raise ApiError(400, message, {"id": ["Not a valid integer."]}, code="invalid_id")
    item_id = whole_number(raw_id, MAX_ID)
    if item_id is None:  # more than any id can be (32-bit on PostgreSQL), or thousands of digits
        raise ApiError(404, collection.not_found, code="not_found")
    return item_id


def get_or_404(collection, raw_id, for_update=False, **id_options):
    """The item with that id, as an ORM object to change, or 404; for_update locks its row until the commit."""
    item_id = item_id_or_404(collection, raw_id, **id_options)
    item = db.session.get(collection.model, item_id, with_for_update=for_update)
    if item is None:
        raise ApiError(404, collection.not_found, code="not_found")
    return item


def checked_before_lock(collection, raw_id, read_input, **id_options):
    """read_input(): a write's body, read and validated before its item's row is locked, so that a
    slow or stalled upload never holds a lock. A missing item is still a 404 before a bad body is a 400
    (retrying with a good body would not mend it): then the item is looked for, without a lock."""
    item_id_or_404(collection, raw_id, **id_options)
    try:
        return read_input()
    except (ApiError, ValidationError, HTTPException):
        read_or_404(collection, raw_id, **id_options)
        raise


def read_or_404(collection, raw_id, **id_options):
    """The item with that id, as a Row to answer with (one SELECT, no ORM), or 404 in our shape."""
    item_id = item_id_or_404(collection, raw_id, **id_options)
    row = collection.by_id.first({"id": item_id})
    if row is None:
        raise ApiError(404, collection.not_found, code="not_found")
    return row


def create_items(collection, data, many=False):
    """Validate data (one object, or a list when many) and insert the items with their history: Rows.
    In the request's transaction: an array is stored whole or not at all.

    SQLAlchemy Core rather than the ORM: a create is the hot write path, and needs no object to track.
    """
    loaded = collection.schema.load(data, many=many)
    use_quota(g.api_key.username, len(loaded) if many else 1)
    items = []
    for values in loaded if many else [loaded]:
        # Every writable field, so that one INSERT serves a whole array (executemany).
        item = SimpleNamespace(
            **{name: values.get(name) for name in collection.schema.load_fields}, version=1
        )
        stamp_modification(item, created=True)
        items.append(vars(item))
    rows = collection.insert.rows(items)
    record_creations(collection, rows)
    return rows


def create_item(collection, data):
    """Validate one object and add it, with its history entry."""
    return create_items(collection, data)[0]


def changes_from(collection, data, partial):
    """Validate data as a change: PATCH's fields as sent; PUT's, every field (null when left out)."""
    values = collection.schema.load(data, partial=partial)
    if not partial:
        values = {name: values.get(name) for name in collection.schema.load_fields}
    return values


def apply_changes(collection, item, values):
    """Set validated values on item and stamp it, with the history entry of the change."""
    before = snapshot(collection, item)
    for name, value in values.items():
        setattr(item, name, value)
    stamp_modification(item)
    db.session.flush()  # the UPDATE, checked against the version it read, which it raises by one
    record_change(collection, item, before)
    return item


def delete_item(collection, item):
    """Remove item, with the history entry that outlives it."""
    record_removal(collection, item)
    db.session.delete(item)
    db.session.flush()


# A create's transaction: Core on a kept connection (database.core_transaction), unless its answer is kept
# for an Idempotency-Key (an ORM object, in a savepoint of the ORM session's transaction).
create_transaction = core_transaction(needs_session=lambda: IDEMPOTENCY_HEADER in request.headers)


class CollectionResource(PhoenixResource):
    """GET lists a collection; POST (with a key) adds one item, or an array of up to 1000 all or nothing.

    Each method names its transaction boundary first in method_decorators (the innermost decorator): the
    key check and its last-used write come before it.
    """

    collection: Collection
    method_decorators = {"get": [autocommit], "post": [create_transaction, require_api_key]}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The key is checked first, then its scope (Flask-RESTful applies the first decorator innermost).
        cls.method_decorators = {
            "get": [autocommit],
            "post": [create_transaction, require_scope(cls.collection.write_scope), require_api_key],
        }

    def get(self):
        collection = self.collection
        page = list_page(collection.listing)
        link = next_link(page.next_cursor, collection.plural)
        body = success(
            **{collection.plural: [collection.dump_row(row) for row in page.rows]},
            next_cursor=page.next_cursor,
            links={"next": link},
        )
        if page.total is not None:
            body["total"] = page.total
            body["total_exact"] = page.total_exact
        return body, 200, link_header(link)

    def post(self):
        data = read_json_body(allow_array=True)
        return idempotent(lambda: self.create(data))

    def create(self, data):
        collection = self.collection
        if isinstance(data, list):
            if not 1 <= len(data) <= MAX_BULK:
                raise ApiError(400, f"Send from 1 to {MAX_BULK} items in one array.", code="invalid_body")
            items = create_items(collection, data, many=True)
            return success(**{collection.plural: [collection.dump(item) for item in items]}), 201, {}
        item = create_item(collection, data)
        location = url_for(collection.singular, id=item.id)
        body = success(**{collection.singular: collection.dump(item)})
        return body, 201, {"Location": location, "ETag": etag(item)}


class ItemResource(PhoenixResource):
    """GET reads one item; PUT replaces it, PATCH changes some fields, DELETE removes it (with a key).

    GET answers an ETag and honours If-None-Match (304); the writes honour If-Match (412 when stale).
    """

    collection: Collection
    path_parameters = {"id": ID}
    method_decorators = {
        "get": [autocommit],
        **{name: [write_transaction, require_api_key] for name in ("put", "patch", "delete")},
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        write = [write_transaction, require_scope(cls.collection.write_scope), require_api_key]
        cls.method_decorators = {"get": [autocommit], **dict.fromkeys(("put", "patch", "delete"), write)}

    def item_answer(self, item, message=None):
        body = success(**{self.collection.singular: self.collection.dump(item)})
        if message:
            body["message"] = message
        return body, 200, {"ETag": etag(item)}

    def get(self, id):
        row = read_or_404(self.collection, id)
        if not_modified(row):
            return Response(status=304, headers={"ETag": etag(row)})
        return self.item_answer(row)

    def put(self, id):
        return self.change(id, partial=False)

    def patch(self, id):
        return self.change(id, partial=True)

    def change(self, id, partial):
        collection = self.collection
        # The whole body is read and validated before the row is locked.
        values = checked_before_lock(
            collection, id, lambda: changes_from(collection, read_json_body(), partial)
        )
        item = get_or_404(collection, id, for_update=True)  # locked until the commit
        require_owner(item, collection.singular)
        # The request's own faults come before If-Match: retrying on a fresh version would not mend them.
        require_current_version(item, collection.singular)
        apply_changes(collection, item, values)
        return self.item_answer(item)

    def delete(self, id):
        collection = self.collection
        item = get_or_404(collection, id, for_update=True)
        require_owner(item, collection.singular)
        require_current_version(item, collection.singular)
        body, status, _ = self.item_answer(item, removed_message(collection, item.id))
        delete_item(collection, item)
        return body, status


class HistoryResource(PhoenixResource):
    """GET /api/<collection>/<id>/history: every change, oldest first, paged; kept after removal."""

    collection: Collection
    path_parameters = {"id": ID}
    method_decorators = [autocommit]
    dump_entry = staticmethod(dumper(history_schema))

    def get(self, id):
        collection = self.collection
        item_id = item_id_or_404(collection, id)
        page = list_page(HISTORY, where=history_of(collection, item_id))
        if not page.rows and "cursor" not in request.args:
            raise ApiError(404, collection.not_found, code="not_found")
        link = next_link(page.next_cursor, f"{collection.singular}_history", id=item_id)
        body = success(
            history=[self.dump_entry(row) for row in page.rows],
            next_cursor=page.next_cursor,
            links={"next": link},
        )
        return body, 200, link_header(link)
