"""The machinery that records and games share: reading input, finding, creating, changing, removing."""

from dataclasses import dataclass, field

import orjson
from flask import Response, request, url_for
from flask_restful import Resource

from phoenix.auth import require_api_key, stamp_modification
from phoenix.concurrency import etag, not_modified, require_current_version
from phoenix.errors import ApiError
from phoenix.extensions import db
from phoenix.history import record_change, record_removal, snapshot
from phoenix.idempotency import idempotent
from phoenix.listing import history_page, list_page, next_link, whole_number
from phoenix.models import MAX_ID
from phoenix.schemas import history_schema

MAX_BULK = 1000


@dataclass(frozen=True)
class Collection:
    """What makes records and games differ: the data, not the code."""

    model: type
    schema: object
    singular: str
    plural: str
    not_found: str
    filters: tuple = field(default=())


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


def item_id_or_404(collection, raw_id, message="The id must be a whole number, like 5."):
    """The integer id in a URL; 400 (with message) if it is not a number, 404 if no item could have it."""
    if not (raw_id.isascii() and raw_id.isdigit()):
        raise ApiError(400, message, {"id": ["Not a valid integer."]})
    item_id = whole_number(raw_id, MAX_ID)
    if item_id is None:  # more than any id can be (32-bit on PostgreSQL), or thousands of digits
        raise ApiError(404, collection.not_found)
    return item_id


def get_or_404(collection, raw_id, for_update=False, **id_options):
    """The item with that id, or 404 in our shape; for_update locks its row until the commit."""
    item_id = item_id_or_404(collection, raw_id, **id_options)
    item = db.session.get(collection.model, item_id, with_for_update=for_update)
    if item is None:
        raise ApiError(404, collection.not_found)
    return item


def create_items(collection, data, many=False):
    """Validate data (one object, or a list when many) and add the new items with their history."""
    values = collection.schema.load(data, many=many)
    items = [collection.model(**item_values) for item_values in (values if many else [values])]
    for item in items:
        stamp_modification(item, created=True)
    db.session.add_all(items)
    db.session.flush()  # ids for the history entries and the answer
    for item in items:
        record_change(collection, item, "created", {}, snapshot(collection, item), version=1)
    return items


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
    record_change(collection, item, "modified", before, snapshot(collection, item), version=item.version)
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
    method_decorators = {"post": [require_api_key]}

    def get(self):
        collection = self.collection
        items, next_cursor = list_page(collection)
        link = next_link(next_cursor, collection.plural)
        body = {
            "status": "success",
            collection.plural: collection.schema.dump(items, many=True),
            "next_cursor": next_cursor,
            "links": {"next": link},
        }
        return body, 200, {"Link": f'<{link}>; rel="next"'} if link else {}

    def post(self):
        data = read_json_body(allow_array=True)
        return idempotent(lambda: self.create(data))

    def create(self, data):
        collection = self.collection
        if isinstance(data, list):
            if not 1 <= len(data) <= MAX_BULK:
                raise ApiError(400, f"Send from 1 to {MAX_BULK} items in one array.")
            items = create_items(collection, data, many=True)
            return {"status": "success", collection.plural: collection.schema.dump(items, many=True)}, 201, {}
        item = create_item(collection, data)
        location = url_for(collection.singular, id=item.id)
        body = {"status": "success", collection.singular: collection.schema.dump(item)}
        return body, 201, {"Location": location, "ETag": etag(item)}


class ItemResource(Resource):
    """GET reads one item; PUT replaces it, PATCH changes some fields, DELETE removes it (with a key).

    GET answers an ETag and honours If-None-Match (304); the writes honour If-Match (412 when stale).
    """

    collection: Collection
    method_decorators = {name: [require_api_key] for name in ("put", "patch", "delete")}

    def answer(self, item, message=None):
        body = {"status": "success", self.collection.singular: self.collection.schema.dump(item)}
        if message:
            body["message"] = message
        return body, 200, {"ETag": etag(item)}

    def get(self, id):
        item = get_or_404(self.collection, id)
        if not_modified(item):
            return Response(status=304, headers={"ETag": etag(item)})
        return self.answer(item)

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

    def get(self, id):
        collection = self.collection
        item_id = item_id_or_404(collection, id)
        entries, next_cursor = history_page(collection, item_id)
        if not entries and "cursor" not in request.args:
            raise ApiError(404, collection.not_found)
        link = next_link(next_cursor, f"{collection.singular}_history", id=item_id)
        body = {
            "status": "success",
            "history": history_schema.dump(entries, many=True),
            "next_cursor": next_cursor,
            "links": {"next": link},
        }
        return body, 200, {"Link": f'<{link}>; rel="next"'} if link else {}
