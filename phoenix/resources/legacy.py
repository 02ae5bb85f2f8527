"""The Project Phoenix routes, kept for the clients written against its README: same paths, same messages."""

from flask_restful import Resource

from phoenix.auth import require_api_key
from phoenix.database import autocommit
from phoenix.errors import ApiError
from phoenix.listing import Listing, link_header, list_page, next_link
from phoenix.models import Record
from phoenix.resources.base import (
    create_item,
    delete_item,
    get_or_404,
    read_json_body,
    read_or_404,
    update_item,
)
from phoenix.resources.keys import key_created
from phoenix.resources.records import RECORDS

FORGOT_USERNAME = "Oops! You forgot to add a username after! Please specify a username and try again!"
FORGOT_NUMBER = "Oops! You forgot to add a number after! Please specify a number and try again!"
NOT_A_NUMBER = "The record number must be a whole number, like /api/read/5."
LIST_PAGE_SIZE = 1000
# /api/list pages by id, 1000 at a time, and takes only cursor and limit.
LEGACY_LIST = Listing(
    name="list", model=Record, default_limit=LIST_PAGE_SIZE, max_limit=LIST_PAGE_SIZE, countable=False
)


def find_record(id):
    """The record with that id, to change, or 400/404 with the Phoenix messages."""
    return get_or_404(RECORDS, id, message=NOT_A_NUMBER)


def record_answer(record, message):
    """The Phoenix envelope: status, message, record_info (an object now, not a JSON string)."""
    return {"status": "success", "message": message, "record_info": RECORDS.dump(record)}


class GenerateKey(Resource):
    """GET or POST /api/generate_key/<username>."""

    def get(self, username):
        return key_created({"username": username})

    post = get


class MissingUsername(Resource):
    """/api/generate_key/ without a username."""

    def get(self):
        raise ApiError(400, FORGOT_USERNAME)

    post = get


class MissingNumber(Resource):
    """/api/read/, /api/modify/ and /api/remove/ without a record number."""

    def get(self):
        raise ApiError(400, FORGOT_NUMBER)

    patch = delete = get


class ListRecords(Resource):
    """GET /api/list: a bare array of records by id, 1000 a call, the next page in a Link header."""

    method_decorators = [autocommit]

    def get(self):
        page = list_page(LEGACY_LIST)
        link = next_link(page.next_cursor, "legacy_list")
        return [RECORDS.dump_row(row) for row in page.rows], 200, link_header(link)


class CreateRecord(Resource):
    """POST /api/create."""

    method_decorators = [require_api_key, autocommit]

    def post(self):
        record = create_item(RECORDS, read_json_body())
        return record_answer(record, "Your entry has successfully been added to the database!"), 201


class ReadRecord(Resource):
    """GET /api/read/<id>."""

    method_decorators = [autocommit]

    def get(self, id):
        return record_answer(read_or_404(RECORDS, id, message=NOT_A_NUMBER), "Record found!")


class ModifyRecord(Resource):
    """PATCH /api/modify/<id>."""

    method_decorators = [require_api_key]

    def patch(self, id):
        record = update_item(RECORDS, find_record(id), read_json_body(), partial=True)
        return record_answer(record, "Your record has successfully been modified!")


class RemoveRecord(Resource):
    """DELETE /api/remove/<id>."""

    method_decorators = [require_api_key]

    def delete(self, id):
        delete_item(find_record(id))
        return {"status": "success", "message": "Your record has been removed!"}
