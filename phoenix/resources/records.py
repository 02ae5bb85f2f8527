"""/api/records: the records collection and its items."""

from phoenix.models import Record
from phoenix.resources.base import Collection, CollectionResource, HistoryResource, ItemResource
from phoenix.schemas import record_schema

RECORD_NOT_FOUND = "The record does not exist! Please try a different record number!"

RECORDS = Collection(
    model=Record,
    schema=record_schema,
    singular="record",
    plural="records",
    not_found=RECORD_NOT_FOUND,
)


class RecordList(CollectionResource):
    """GET /api/records, POST /api/records."""

    collection = RECORDS


class RecordItem(ItemResource):
    """GET, PUT, PATCH, DELETE /api/records/<id>."""

    collection = RECORDS


class RecordHistory(HistoryResource):
    """GET /api/records/<id>/history."""

    collection = RECORDS
