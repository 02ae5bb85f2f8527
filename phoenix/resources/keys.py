"""/api/keys: self-service API keys."""

from flask_restful import Resource

from phoenix.auth import USERNAME_TAKEN, issue_key
from phoenix.openapi import TEXT, Answer, Operation, failure, success
from phoenix.resources.base import read_json_body
from phoenix.schemas import KeySchema, key_request_schema, key_schema

KEY_CREATED = "Congrats! Your API Key has been created!"
# The key is shown once; no cache or proxy may keep a copy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# What a key request may answer, for the docs of every route that makes keys.
KEY_ANSWERS = {
    201: Answer(
        "The new key: shown this once, so keep it.",
        success(KeySchema, message=TEXT),
        {
            "status": "success",
            "username": "sumit",
            "api_key": "jq4bJ9mL0x2c7vYkQ1sWdE8rT5uZ3aNf",
            "created_on": "2026-11-22T01:02:03.456789+00:00",
            "message": KEY_CREATED,
        },
        headers={"Cache-Control": "no-store: no cache or proxy may keep the key."},
    ),
    409: failure("The username is taken, whatever its case.", USERNAME_TAKEN),
}


def key_created(data):
    """Validate a key request, issue the key and answer 201 with it: the only time it is shown."""
    key = issue_key(key_request_schema.load(data)["username"])
    body = {"status": "success", **key_schema.dump(key), "message": KEY_CREATED}
    return body, 201, NO_STORE


class KeyList(Resource):
    """POST /api/keys {"username": ...}: the same as /api/generate_key/<username>."""

    docs = {
        "post": Operation(
            summary="Create an API key",
            tag="Keys",
            description="Usernames are unique whatever their case (`Sumit` is taken once `sumit` is).",
            body=key_request_schema,
            example={"username": "sumit"},
            answers=KEY_ANSWERS,
        )
    }

    def post(self):
        return key_created(read_json_body())
