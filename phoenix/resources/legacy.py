"""The Project Phoenix routes, kept for the clients written against its README: same paths, same messages."""

from phoenix.auth import require_api_key
from phoenix.database import autocommit, write_transaction
from phoenix.errors import ApiError, error_answer
from phoenix.idempotency import IDEMPOTENT, idempotent
from phoenix.jsonio import MESSAGE, envelope, success
from phoenix.listing import Listing, link_header, list_page, next_link
from phoenix.models import Record
from phoenix.openapi import TEXT, Answer, Operation, Tag, schema
from phoenix.permissions import RECORDS_WRITE, owned_feature, require_owner, require_scope
from phoenix.resources.base import (
    ID,
    apply_changes,
    changes_from,
    checked_before_lock,
    create_item,
    delete_item,
    get_or_404,
    read_json_body,
    read_or_404,
)
from phoenix.resources.keys import KEY_ANSWERS, key_created
from phoenix.resources.records import EXAMPLE, PATCH_EXAMPLE, RECORD_NOT_FOUND, RECORDS
from phoenix.resources.resource import PhoenixResource
from phoenix.schemas import USERNAME_RULE, KeyRequestSchema

FORGOT_USERNAME = "Oops! You forgot to add a username after! Please specify a username and try again!"
FORGOT_NUMBER = "Oops! You forgot to add a number after! Please specify a number and try again!"
RECORD_REMOVED = "Your record has been removed!"
NOT_A_NUMBER = "The record number must be a whole number, like /api/read/5."
LIST_PAGE_SIZE = 1000
# /api/list pages by id, 1000 at a time, and takes only cursor and limit.
LEGACY_LIST = Listing(
    name="list", model=Record, default_limit=LIST_PAGE_SIZE, max_limit=LIST_PAGE_SIZE, countable=False
)

RECORD_ADDED = "Your entry has successfully been added to the database!"
RECORD_READ = "Record found!"
RECORD_MODIFIED = "Your record has successfully been modified!"
RECORD_REMOVED = "Your record has been removed!"

# The docs of these routes.
TAG = Tag(
    "Project Phoenix", "The original Project Phoenix routes, kept for the clients written against them."
)
RECORD_INFO = envelope(
    "RecordInfo",
    description="A record, the Project Phoenix way.",
    message=TEXT,
    record_info=RECORDS.docs.item,
)
RECORD_ARRAY = schema(
    "RecordArray", {"type": "array", "items": RECORDS.docs.item, "description": "Records by id."}
)
USERNAME = {
    "description": "The username to register: 1 to 64 letters, digits, `_`, `.` or `-`.",
    "schema": KeyRequestSchema().fields["username"],
    "example": "sumit",
}
OWNED = owned_feature(RECORDS_WRITE)  # the owner policy's 403 beside the scope's
NO_RECORD = error_answer("There is no record with that number.", RECORD_NOT_FOUND)
BAD_NUMBER = error_answer("The record number is not a whole number.", NOT_A_NUMBER)
BAD_NUMBER_OR_BODY = error_answer(
    "The record number is not a whole number, or the body is not valid (see errors).", NOT_A_NUMBER
)


def find_record(id, for_update=False):
    """The record with that id, or 400/404 with the Phoenix messages."""
    return get_or_404(RECORDS, id, for_update=for_update, message=NOT_A_NUMBER)


def record_answer(record, message):
    """The Phoenix envelope: status, message, record_info (an object now, not a JSON string)."""
    return success(message=message, record_info=RECORDS.dump(record))


class GenerateKey(PhoenixResource):
    """GET or POST /api/generate_key/<username>."""

    method_decorators = [write_transaction]
    path_parameters = {"username": USERNAME}
    docs = {
        method: Operation(
            summary="Create an API key (Project Phoenix)",
            tag=TAG,
            description="The same as POST /api/keys. Prefer that: a GET is meant to be safe to repeat.",
            answers={
                **KEY_ANSWERS,
                400: error_answer(
                    "The username is not valid.",
                    "The request has invalid fields: username. See errors for what each needs.",
                    {"username": [USERNAME_RULE]},
                ),
            },
        )
        for method in ("get", "post")
    }

    def get(self, username):
        return key_created({"username": username})

    post = get


class MissingUsername(PhoenixResource):
    """/api/generate_key/ without a username."""

    docs = {
        method: Operation(
            summary="A key request without a username (Project Phoenix)",
            tag=TAG,
            answers={400: error_answer("Always: the username is missing.", FORGOT_USERNAME)},
            uses_database=False,
        )
        for method in ("get", "post")
    }

    def get(self):
        raise ApiError(400, FORGOT_USERNAME, code="missing_username")

    post = get


class MissingNumber(PhoenixResource):
    """/api/read/, /api/modify/ and /api/remove/ without a record number."""

    docs = {
        method: Operation(
            summary="A record route without a number (Project Phoenix)",
            tag=TAG,
            answers={400: error_answer("Always: the record number is missing.", FORGOT_NUMBER)},
            uses_database=False,
        )
        for method in ("get", "patch", "delete")
    }

    def get(self):
        raise ApiError(400, FORGOT_NUMBER, code="missing_number")

    patch = delete = get


class ListRecords(PhoenixResource):
    """GET /api/list: a bare array of records by id, 1000 a call, the next page in a Link header."""

    method_decorators = [autocommit]
    docs = {
        "get": Operation(
            summary="List records (Project Phoenix)",
            tag=TAG,
            description="A bare array, ordered by id, 1000 at most; the next page is in the `Link` header.",
            query=LEGACY_LIST.parameters,
            answers={
                200: Answer(
                    "A page of records.",
                    RECORD_ARRAY,
                    headers={"Link": 'The next page, as `<url>; rel="next"`, when more records remain.'},
                )
            },
        )
    }

    def get(self):
        page = list_page(LEGACY_LIST)
        link = next_link(page.next_cursor, "legacy_list")
        return [RECORDS.dump_row(row) for row in page.rows], 200, link_header(link)


class CreateRecord(PhoenixResource):
    """POST /api/create."""

    method_decorators = [write_transaction, require_scope(RECORDS_WRITE), require_api_key]
    docs = {
        "post": Operation(
            summary="Create a record (Project Phoenix)",
            tag=TAG,
            description="With an `Idempotency-Key`, a retry creates nothing again (as on POST /api/records).",
            body=RECORDS.docs.input,
            example=EXAMPLE,
            features=(IDEMPOTENT,),
            answers={201: Answer("The record as stored.", RECORD_INFO)},
        )
    }

    def post(self):
        data = read_json_body()
        return idempotent(lambda: self.create(data))

    def create(self, data):
        record = create_item(RECORDS, data)
        return record_answer(record, RECORD_ADDED), 201, {}


class ReadRecord(PhoenixResource):
    """GET /api/read/<id>."""

    path_parameters = {"id": ID}
    method_decorators = [autocommit]
    docs = {
        "get": Operation(
            summary="Read a record (Project Phoenix)",
            tag=TAG,
            answers={200: Answer("The record.", RECORD_INFO), 400: BAD_NUMBER, 404: NO_RECORD},
        )
    }

    def get(self, id):
        return record_answer(read_or_404(RECORDS, id, message=NOT_A_NUMBER), RECORD_READ)


class ModifyRecord(PhoenixResource):
    """PATCH /api/modify/<id>."""

    path_parameters = {"id": ID}
    method_decorators = [write_transaction, require_scope(RECORDS_WRITE), require_api_key]
    docs = {
        "patch": Operation(
            summary="Change some fields of a record (Project Phoenix)",
            tag=TAG,
            body=RECORDS.docs.patch,
            example=PATCH_EXAMPLE,
            features=(OWNED,),
            answers={
                200: Answer("The record as changed.", RECORD_INFO),
                400: BAD_NUMBER_OR_BODY,
                404: NO_RECORD,
            },
        )
    }

    def patch(self, id):
        # The body is read and validated before the record is locked.
        values = checked_before_lock(
            RECORDS, id, lambda: changes_from(RECORDS, read_json_body(), partial=True), message=NOT_A_NUMBER
        )
        record = find_record(id, for_update=True)
        require_owner(record, "record")
        record = apply_changes(RECORDS, record, values)
        return record_answer(record, RECORD_MODIFIED)


class RemoveRecord(PhoenixResource):
    """DELETE /api/remove/<id>."""

    path_parameters = {"id": ID}
    method_decorators = [write_transaction, require_scope(RECORDS_WRITE), require_api_key]
    docs = {
        "delete": Operation(
            summary="Remove a record (Project Phoenix)",
            tag=TAG,
            features=(OWNED,),
            answers={
                200: Answer("The record is gone.", MESSAGE, success(message=RECORD_REMOVED)),
                400: BAD_NUMBER,
                404: NO_RECORD,
            },
        )
    }

    def delete(self, id):
        record = find_record(id, for_update=True)
        require_owner(record, "record")
        delete_item(RECORDS, record)
        return success(message=RECORD_REMOVED)
