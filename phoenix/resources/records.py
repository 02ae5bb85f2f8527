"""/api/records: the records collection and its items."""

from phoenix.listing import Listing, bounds, contains, equals, equals_folded
from phoenix.models import Record, folded, nulls_last, plain
from phoenix.resources.base import Collection, CollectionResource, ItemResource
from phoenix.schemas import record_schema

RECORD_NOT_FOUND = "The record does not exist! Please try a different record number!"

RECORDS = Collection(
    model=Record,
    schema=record_schema,
    singular="record",
    plural="records",
    not_found=RECORD_NOT_FOUND,
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


class RecordList(CollectionResource):
    """GET /api/records, POST /api/records."""

    collection = RECORDS


class RecordItem(ItemResource):
    """GET, PUT, PATCH, DELETE /api/records/<id>."""

    collection = RECORDS
