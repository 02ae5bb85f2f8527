"""The machinery that records and games share: reading input, finding, creating, changing, removing."""

from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace

import orjson
from flask import request, url_for
from flask_restful import Resource
from sqlalchemy import bindparam, insert, select

from phoenix.auth import require_api_key, stamp_modification
from phoenix.database import autocommit, connection
from phoenix.errors import ApiError
from phoenix.extensions import db
from phoenix.listing import Listing, link_header, list_page, next_link
from phoenix.schemas import dumper, row_dumper

# Ids are 32-bit on PostgreSQL: a larger one cannot exist, and must not reach the database.
MAX_ID = 2**31 - 1


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
        """The schema's dump, fast (phoenix.schemas.dumper)."""
        return dumper(self.schema)

    @cached_property
    def dump_row(self):
        """The schema's dump of a Row of the table's columns (as lists and reads select them), fastest."""
        return row_dumper(self.schema, self.model.__table__.columns.keys())

    @cached_property
    def insert(self):
        """INSERT an item, RETURNING its row as stored."""
        table = self.model.__table__
        return insert(table).returning(*table.columns)

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


def parse_id(raw, message="The id must be a whole number, like 5."):
    """The integer id in a URL; 400 if it is not one."""
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError(400, message, {"id": ["Not a valid integer."]})
    return int(raw)


def get_or_404(collection, raw_id, **id_options):
    """The item with that id, as an ORM object to change, or 404 in our shape."""
    item_id = parse_id(raw_id, **id_options)
    item = db.session.get(collection.model, item_id) if item_id <= MAX_ID else None
    if item is None:
        raise ApiError(404, collection.not_found)
    return item


def read_or_404(collection, raw_id, **id_options):
    """The item with that id, as a Row to answer with (one SELECT, no ORM), or 404 in our shape."""
    item_id = parse_id(raw_id, **id_options)
    row = None
    if item_id <= MAX_ID:
        row = connection().execute(collection.by_id, {"id": item_id}).first()
    if row is None:
        raise ApiError(404, collection.not_found)
    return row


def create_item(collection, data):
    """Validate data and insert a new item, stamped with the caller: one INSERT ... RETURNING, a Row.

    In an autocommit view (POST) the insert is committed by itself; on the session's connection it
    is part of the session's transaction, which the caller commits.
    """
    item = SimpleNamespace(**collection.schema.load(data))  # the values, to be stamped (no ORM needed)
    stamp_modification(item, created=True)
    return connection().execute(collection.insert, vars(item)).one()


def update_item(collection, item, data, partial):
    """Validate data and apply it: PATCH changes the fields sent, PUT replaces them all; commit."""
    values = collection.schema.load(data, partial=partial)
    if not partial:
        values = {name: values.get(name) for name in collection.schema.load_fields}
    for name, value in values.items():
        setattr(item, name, value)
    stamp_modification(item)
    db.session.commit()
    return item


def delete_item(item):
    """Remove item; commit."""
    db.session.delete(item)
    db.session.commit()


class CollectionResource(Resource):
    """GET lists a collection, POST (with a key) adds to it."""

    collection: Collection
    method_decorators = {"get": [autocommit], "post": [require_api_key, autocommit]}

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
        return body, 200, link_header(link)

    def post(self):
        collection = self.collection
        item = create_item(collection, read_json_body())
        location = url_for(collection.singular, id=item.id)
        return (
            {"status": "success", collection.singular: collection.dump_row(item)},
            201,
            {"Location": location},
        )


class ItemResource(Resource):
    """GET reads one item; PUT replaces it, PATCH changes some fields, DELETE removes it (with a key)."""

    collection: Collection
    method_decorators = {
        "get": [autocommit],
        **{name: [require_api_key] for name in ("put", "patch", "delete")},
    }

    def answer(self, item, message=None):
        body = {"status": "success", self.collection.singular: self.collection.dump(item)}
        if message:
            body["message"] = message
        return body

    def get(self, id):
        collection = self.collection
        return {"status": "success", collection.singular: collection.dump_row(read_or_404(collection, id))}

    def put(self, id):
        item = get_or_404(self.collection, id)
        return self.answer(update_item(self.collection, item, read_json_body(), partial=False))

    def patch(self, id):
        item = get_or_404(self.collection, id)
        return self.answer(update_item(self.collection, item, read_json_body(), partial=True))

    def delete(self, id):
        collection = self.collection
        item = get_or_404(collection, id)
        body = self.answer(item, f"The {collection.singular} {item.id} has been removed.")
        delete_item(item)
        return body
