"""/api/keys: self-service API keys."""

from flask_restful import Resource

from phoenix.auth import issue_key
from phoenix.resources.base import read_json_body
from phoenix.schemas import key_request_schema, key_schema

KEY_CREATED = "Congrats! Your API Key has been created!"
# The key is shown once; no cache or proxy may keep a copy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def key_created(data):
    """Validate a key request, issue the key and answer 201 with it: the only time it is shown."""
    key = issue_key(key_request_schema.load(data)["username"])
    body = {"status": "success", **key_schema.dump(key), "message": KEY_CREATED}
    return body, 201, NO_STORE


class KeyList(Resource):
    """POST /api/keys {"username": ...}: the same as /api/generate_key/<username>."""

    def post(self):
        return key_created(read_json_body())
