"""/api/keys: self-service API keys, and /api/keys/me: the calling key's own lifecycle."""

from urllib.parse import urlsplit

from flask import current_app, g, request, url_for
from flask_restful import Resource

from phoenix.auth import (
    CONCURRENT_CHANGE,
    KEY_FORMAT,
    USERNAME_TAKEN,
    issue_key,
    require_api_key,
    revoke_key,
    rotate_key,
)
from phoenix.errors import ApiError
from phoenix.extensions import db
from phoenix.models import ReservedUsername
from phoenix.openapi import TEXT, Answer, Operation, failure, header, success
from phoenix.resources.base import read_json_body
from phoenix.schemas import KeySchema, key_request_schema, key_rotation_schema, key_schema

KEY_CREATED = "Congrats! Your API Key has been created!"
KEY_ROTATED = "Your API key has been rotated: this is the new one. The old one no longer works."
KEY_REVOKED = "Your API key has been revoked: it no longer works. The username {username} stays reserved."
REGISTRATION_CLOSED = "Registration is closed on this server: ask its operator for an API key."
RESERVED = "The username {username} is reserved for this server's operator: choose another."
CROSS_SITE = (
    "Keys cannot be created from another site's page. Call this API from a script, or from a page of an "
    "origin in this server's CORS_ORIGINS."
)
# Never handed out by self-service, whatever their case; and with them every name that the operator's
# commands have stamped rows with (phoenix.models.ReservedUsername).
RESERVED_USERNAMES = frozenset({"admin", "operator", "root", "system", "seed", "phoenix"})
# The key is shown once; no cache or proxy may keep a copy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# A new key: shown once, in the answer that makes it.
NEW_KEY = {
    "type": "string",
    "description": "The key itself: shown this once. Send it as `api-key` or `Authorization: Bearer`.",
    "pattern": f"^{KEY_FORMAT.pattern}$",
}
NEW_KEY_EXAMPLE = {
    "status": "success",
    "username": "sumit",
    "prefix": "phx_3f9a0c1d2e4b5a69",
    "created_on": "2026-11-22T01:02:03.456789+00:00",
    "last_used_at": None,
    "expires_at": None,
    "api_key": "phx_3f9a0c1d2e4b5a69_Xq7bJ9mL0x2c7vYkQ1sWdE8rT5uZ3aNfGh4Kp6Rt8Vw",
    "message": KEY_CREATED,
}
NOT_CACHED = {"Cache-Control": header("`no-store`: no cache or proxy may keep the key.", required=True)}


def new_key_answer(description, message, **headers):
    """The 201 that carries a new key."""
    return Answer(
        description,
        success(KeySchema, api_key=NEW_KEY, message=TEXT),
        {**NEW_KEY_EXAMPLE, "message": message},
        headers={**NOT_CACHED, **headers},
    )


# What a key request may answer, for the docs of every route that makes keys.
KEY_ANSWERS = {
    201: new_key_answer("The new key: shown this once, so keep it.", KEY_CREATED),
    403: failure(
        "Registration is closed (only the operator makes keys: `flask keys create`), the request came from "
        "another site's page (`Sec-Fetch-Site: cross-site`, or an `Origin` not in `CORS_ORIGINS`), or the "
        "username is reserved for the operator.",
        REGISTRATION_CLOSED,
    ),
    409: failure("The username is taken, whatever its case (revoked keys' names included).", USERNAME_TAKEN),
}


def key_shown_once(row, key, message):
    """The body that carries a new key: the only time it is shown."""
    return {"status": "success", **key_schema.dump(row), "api_key": key, "message": message}


def reserved(username):
    """Whether self-service may not hand out username: a fixed name, or one the operator's commands use."""
    name = username.lower()
    return name in RESERVED_USERNAMES or db.session.get(ReservedUsername, name) is not None


def cross_site():
    """Whether a browser marks this request as sent from another site's page (scripts send neither
    header): Sec-Fetch-Site: cross-site, or an Origin that is neither this server nor in CORS_ORIGINS."""
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    allowed = current_app.config["CORS_ORIGINS"]
    if origin in allowed or allowed == ["*"]:
        return False
    return urlsplit(origin).netloc.lower() != request.host.lower()  # "null" (a sandboxed page): refused


def key_created(data):
    """Validate a key request, issue the key and answer 201 with it; 403 while registration is closed,
    from another site's page, or for a reserved username."""
    if not current_app.config["PHOENIX_OPEN_REGISTRATION"]:
        raise ApiError(403, REGISTRATION_CLOSED)
    if cross_site():
        raise ApiError(403, CROSS_SITE, code="cross_site")
    values = key_request_schema.load(data)
    if reserved(values["username"]):
        raise ApiError(403, RESERVED.format(username=values["username"]), code="reserved_username")
    row, key = issue_key(values["username"], values.get("expires_in_days"))
    return key_shown_once(row, key, KEY_CREATED), 201, NO_STORE


class KeyList(Resource):
    """POST /api/keys {"username": ..., "expires_in_days"?: ...}: the same as /api/generate_key/<username>."""

    docs = {
        "post": Operation(
            summary="Create an API key",
            tag="Keys",
            description="Usernames are unique whatever their case (`Sumit` is taken once `sumit` is). "
            "`expires_in_days` sets the key's lifetime (at most the server's `PHOENIX_KEY_MAX_AGE_DAYS`, "
            "which is also the default; without it, keys live until revoked).",
            body=key_request_schema,
            example={"username": "sumit"},
            answers=KEY_ANSWERS,
        )
    }

    def post(self):
        return key_created(read_json_body())


class OwnKey(Resource):
    """GET /api/keys/me: the calling key, never its secret; DELETE /api/keys/me: revoke it."""

    method_decorators = [require_api_key]
    docs = {
        "get": Operation(
            summary="Show the calling key",
            tag="Keys",
            description="The key that signs this request: its username, prefix and dates; never the key itself.",
            answers={200: Answer("The calling key.", success(key=KeySchema))},
        ),
        "delete": Operation(
            summary="Revoke the calling key",
            tag="Keys",
            description="It stops working from the next request, on every server. The username stays taken, "
            "so that nobody else can sign as it.",
            answers={
                200: Answer(
                    "The key, now revoked.",
                    success(key=KeySchema, message=TEXT),
                    {
                        "status": "success",
                        "message": KEY_REVOKED.format(username="sumit"),
                        "key": {k: NEW_KEY_EXAMPLE[k] for k in key_schema.fields},
                    },
                )
            },
        ),
    }

    def get(self):
        return {"status": "success", "key": key_schema.dump(g.api_key)}

    def delete(self):
        row = revoke_key(g.api_key)
        return {
            "status": "success",
            "message": KEY_REVOKED.format(username=row.username),
            "key": key_schema.dump(row),
        }


class KeyRotation(Resource):
    """POST /api/keys/me/rotate {"expires_in_days"?: ...}: a new key for the same username."""

    method_decorators = [require_api_key]
    docs = {
        "post": Operation(
            summary="Rotate the calling key",
            tag="Keys",
            description="A new key for the same username; the old one stops working from the next request. "
            "The body is optional: without one, the new key gets the default lifetime.",
            body=key_rotation_schema,
            body_required=False,
            example={"expires_in_days": 90},
            answers={
                201: new_key_answer(
                    "The new key: shown this once, so keep it.",
                    KEY_ROTATED,
                    Location=header("`/api/keys/me`, where the key can be seen.", required=True),
                ),
                409: failure("Another request rotated or revoked this key meanwhile.", CONCURRENT_CHANGE),
            },
        )
    }

    def post(self):
        # The body is optional: a bare POST rotates with the default lifetime.
        data = read_json_body() if request.get_data(cache=True).strip() else {}
        values = key_rotation_schema.load(data)
        row, key = rotate_key(g.api_key, values.get("expires_in_days"))
        headers = {**NO_STORE, "Location": url_for("own_key")}
        return key_shown_once(row, key, KEY_ROTATED), 201, headers
