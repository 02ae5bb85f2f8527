"""The machinery that records and games share: reading input, finding, creating, changing, removing."""

from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace

import orjson
from flask import Response, request, url_for
from flask_restful import Resource
from sqlalchemy import bindparam, insert, select

from phoenix.auth import require_api_key, stamp_modification
from phoenix.concurrency import etag, not_modified, require_current_version
from phoenix.database import autocommit, connection
from phoenix.errors import ApiError
from phoenix.extensions import db
from phoenix.history import HISTORY, history_of, record_change, record_creations, record_removal, snapshot
from phoenix.idempotency import idempotent
from phoenix.listing import Listing, link_header, list_page, next_link
from phoenix.models import MAX_ID
from phoenix.schemas import dumper, history_schema, row_dumper

MAX_BULK = 1000


@dataclass(frozen=True)
class Collection:
    """What makes records and games differ: the data, not the code."""

    model: type
    schema: object
    singular: str
    plural: str
    not_found: str
    listing: Listing  # what its list filters and sorts on

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
        """INSERT items, RETURNING their rows as stored, in the order given."""
        table = self.model.__table__
        return insert(table).returning(*table.columns, sort_by_parameter_order=True)

    @cached_property
    def by_id(self):
        """SELECT the item's columns by id: a Row, lighter than an ORM object, for reads."""
        table = self.model.__table__
        return select(*table.columns).where(table.c.id == bindparam("id"))


def read_json_body(allow_array=False):
    """The request body as a JSON object (or array, where allowed), or an ApiError saying why not."""
    if not request.is_json:
        raise ApiError(415, "Send the body as JSON, with the header Content-Type: application/json.")
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug raises 413
    if not raw.strip():
        raise ApiError(400, "The request body is empty: send a JSON object.")
    try:
        # orjson is strict: NaN, Infinity, lone surrogates and bad UTF-8 are refused.
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"The request body is not valid JSON ({error}).") from None
    if isinstance(data, dict) or (allow_array and isinstance(data, list)):
        return data
    expected = "a JSON object or an array of objects" if allow_array else "a JSON object"
    raise ApiError(400, f"The request body must be {expected}.")


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


def item_id_or_404(collection, raw_id, message="The id must be a whole number, like 5."):
    """The integer id in a URL; 400 (with message) if it is not a number, 404 if no item could have it."""
    if not (raw_id.isascii() and raw_id.isdigit()):
        raise ApiError(400, message, {"id": ["Not a valid integer."]})
    item_id = whole_number(raw_id, MAX_ID)
    if item_id is None:  # more than any id can be (32-bit on PostgreSQL), or thousands of digits
        raise ApiError(404, collection.not_found)
    return item_id


def get_or_404(collection, raw_id, for_update=False, **id_options):
    """The item with that id, as an ORM object to change, or 404; for_update locks its row until the commit."""
    item_id = item_id_or_404(collection, raw_id, **id_options)
    item = db.session.get(collection.model, item_id, with_for_update=for_update)
    if item is None:
        raise ApiError(404, collection.not_found)
    return item


def read_or_404(collection, raw_id, **id_options):
    """The item with that id, as a Row to answer with (one SELECT, no ORM), or 404 in our shape."""
    item_id = item_id_or_404(collection, raw_id, **id_options)
    row = connection().execute(collection.by_id, {"id": item_id}).first()
    if row is None:
        raise ApiError(404, collection.not_found)
    return row


def create_items(collection, data, many=False):
    """Validate data (one object, or a list when many) and insert the items with their history: Rows.

    SQLAlchemy Core rather than the ORM: a create is the hot write path, and needs no object to track.
    """
    loaded = collection.schema.load(data, many=many)
    items = []
    for values in loaded if many else [loaded]:
        # Every writable field, so that one INSERT serves a whole array (executemany).
        item = SimpleNamespace(
            **{name: values.get(name) for name in collection.schema.load_fields}, version=1
        )
        stamp_modification(item, created=True)
        items.append(vars(item))
    rows = connection().execute(collection.insert, items).all()
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


def update_item(collection, item, data, partial):
    """Validate data and apply it: PATCH changes the fields sent, PUT replaces them all; with history."""
    return apply_changes(collection, item, changes_from(collection, data, partial))


def delete_item(collection, item):
    """Remove item, with the history entry that outlives it."""
    record_removal(collection, item)
    db.session.delete(item)
    db.session.flush()


class CollectionResource(Resource):
    """GET lists a collection; POST (with a key) adds one item, or an array of up to 1000 all or nothing."""

    collection: Collection
    method_decorators = {"get": [autocommit], "post": [require_api_key]}

    def get(self):
        collection = self.collection
        page = list_page(collection.listing)
        link = next_link(page.next_cursor, collection.plural)
        body = {
            "status": "success",
            collection.plural: [collection.dump_row(row) for row in page.rows],
            "next_cursor": page.next_cursor,
            "links": {"next": link},
        }
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
                raise ApiError(400, f"Send from 1 to {MAX_BULK} items in one array.")
            items = create_items(collection, data, many=True)
            return (
                {"status": "success", collection.plural: [collection.dump(item) for item in items]},
                201,
                {},
            )
        item = create_item(collection, data)
        location = url_for(collection.singular, id=item.id)
        body = {"status": "success", collection.singular: collection.dump(item)}
        return body, 201, {"Location": location, "ETag": etag(item)}


class ItemResource(Resource):
    """GET reads one item; PUT replaces it, PATCH changes some fields, DELETE removes it (with a key).

    GET answers an ETag and honours If-None-Match (304); the writes honour If-Match (412 when stale).
    """

    collection: Collection
    method_decorators = {
        "get": [autocommit],
        **{name: [require_api_key] for name in ("put", "patch", "delete")},
    }

    def answer(self, item, message=None):
        body = {"status": "success", self.collection.singular: self.collection.dump(item)}
        if message:
            body["message"] = message
        return body, 200, {"ETag": etag(item)}

    def get(self, id):
        row = read_or_404(self.collection, id)
        if not_modified(row):
            return Response(status=304, headers={"ETag": etag(row)})
        return self.answer(row)

    def put(self, id):
        return self.change(id, partial=False)

    def patch(self, id):
        return self.change(id, partial=True)

    def change(self, id, partial):
        collection = self.collection
        item = get_or_404(collection, id, for_update=True)  # locked until the commit
        # The request's own faults come before If-Match: retrying on a fresh version would not mend them.
        values = changes_from(collection, read_json_body(), partial)
        require_current_version(item, collection.singular)
        apply_changes(collection, item, values)
        db.session.commit()
        return self.answer(item)

    def delete(self, id):
        collection = self.collection
        item = get_or_404(collection, id, for_update=True)
        require_current_version(item, collection.singular)
        body, status, _ = self.answer(item, f"The {collection.singular} {item.id} has been removed.")
        delete_item(collection, item)
        db.session.commit()
        return body, status


class HistoryResource(Resource):
    """GET /api/<collection>/<id>/history: every change, oldest first, paged; kept after removal."""

    collection: Collection
    method_decorators = [autocommit]
    dump_entry = staticmethod(dumper(history_schema))

    def get(self, id):
        collection = self.collection
        item_id = item_id_or_404(collection, id)
        page = list_page(HISTORY, where=history_of(collection, item_id))
        if not page.rows and "cursor" not in request.args:
            raise ApiError(404, collection.not_found)
        link = next_link(page.next_cursor, f"{collection.singular}_history", id=item_id)
        body = {
            "status": "success",
            "history": [self.dump_entry(row) for row in page.rows],
            "next_cursor": page.next_cursor,
            "links": {"next": link},
        }
        return body, 200, link_header(link)
