"""/api/keys: self-service API keys, and /api/keys/me: the calling key's own lifecycle."""

from flask import current_app, g, request, url_for
from flask_restful import Resource

from phoenix.auth import issue_key, require_api_key, revoke_key, rotate_key
from phoenix.errors import ApiError
from phoenix.resources.base import read_json_body
from phoenix.schemas import key_request_schema, key_rotation_schema, key_schema

KEY_CREATED = "Congrats! Your API Key has been created!"
KEY_ROTATED = "Your API key has been rotated: this is the new one. The old one no longer works."
KEY_REVOKED = "Your API key has been revoked: it no longer works. The username {username} stays reserved."
REGISTRATION_CLOSED = "Registration is closed on this server: ask its operator for an API key."
# The key is shown once; no cache or proxy may keep a copy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def key_shown_once(row, key, message):
    """The body that carries a new key: the only time it is shown."""
    return {"status": "success", **key_schema.dump(row), "api_key": key, "message": message}


def key_created(data):
    """Validate a key request, issue the key and answer 201 with it; 403 while registration is closed."""
    if not current_app.config["PHOENIX_OPEN_REGISTRATION"]:
        raise ApiError(403, REGISTRATION_CLOSED)
    values = key_request_schema.load(data)
    row, key = issue_key(values["username"], values.get("expires_in_days"))
    return key_shown_once(row, key, KEY_CREATED), 201, NO_STORE


class KeyList(Resource):
    """POST /api/keys {"username": ..., "expires_in_days"?: ...}: the same as /api/generate_key/<username>."""

    def post(self):
        return key_created(read_json_body())


class OwnKey(Resource):
    """GET /api/keys/me: the calling key, never its secret; DELETE /api/keys/me: revoke it."""

    method_decorators = [require_api_key]

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

    def post(self):
        # The body is optional: a bare POST rotates with the default lifetime.
        data = read_json_body() if request.get_data(cache=True).strip() else {}
        values = key_rotation_schema.load(data)
        row, key = rotate_key(g.api_key, values.get("expires_in_days"))
        headers = {**NO_STORE, "Location": url_for("own_key")}
        return key_shown_once(row, key, KEY_ROTATED), 201, headers
