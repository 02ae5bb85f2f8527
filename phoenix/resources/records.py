"""/api/records: the records collection and its items."""

from phoenix.listing import Listing, bounds, contains, equals, equals_folded
from phoenix.models import Record, folded, nulls_last, plain
from phoenix.permissions import RECORDS_WRITE
from phoenix.resources.base import (
    Collection,
    CollectionResource,
    HistoryResource,
    ItemResource,
    collection_docs,
    history_docs,
    item_docs,
)
from phoenix.schemas import record_schema

RECORD_NOT_FOUND = "The record does not exist! Please try a different record number!"

RECORDS = Collection(
    model=Record,
    schema=record_schema,
    singular="record",
    plural="records",
    not_found=RECORD_NOT_FOUND,
    description="Free-form measurements: a timestamp, a string, a number and a boolean, each optional.",
    write_scope=RECORDS_WRITE,
    listing=Listing(
        name="records",
        model=Record,
        filters={
            "lastmodifiedby": equals_folded(Record.lastmodifiedby),
            "value1": equals(Record.value1),
            "value3": equals(Record.value3),
            "q": contains(Record.value1),
            **bounds("timestamp", Record.timestamp),
            **bounds("value2", Record.value2),
            # Changed since: served by the indexes on (creationdate, id) and (lastmodificationdate, id).
            **bounds("creationdate", Record.creationdate),
            **bounds("lastmodificationdate", Record.lastmodificationdate),
        },
        sorts={
            "id": plain(Record.id),
            "timestamp": nulls_last(Record.timestamp),
            "value1": nulls_last(Record.value1),
            "value2": nulls_last(Record.value2),
            "lastmodifiedby": folded(Record.lastmodifiedby),
            "creationdate": plain(Record.creationdate),
            "lastmodificationdate": plain(Record.lastmodificationdate),
        },
    ),
)

# Request examples for the docs, as the README's walk-through sends them.
EXAMPLE = {"timestamp": 6789998212, "value1": "Hello", "value2": 2021.01, "value3": True}
PATCH_EXAMPLE = {"value1": "Yes I think I will", "value3": False}


class RecordList(CollectionResource):
    """GET /api/records, POST /api/records."""

    collection = RECORDS
    docs = collection_docs(RECORDS, EXAMPLE)


class RecordItem(ItemResource):
    """GET, PUT, PATCH, DELETE /api/records/<id>."""

    collection = RECORDS
    docs = item_docs(RECORDS, EXAMPLE, PATCH_EXAMPLE)


class RecordHistory(HistoryResource):
    """GET /api/records/<id>/history."""

    collection = RECORDS
    docs = history_docs(RECORDS)
