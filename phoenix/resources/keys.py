"""/api/keys: self-service API keys; /api/keys/me: the calling key's own lifecycle; /api/account/keys:
the keys of the caller's username (a fleet's keys, each with a name and scopes)."""

import re
from urllib.parse import urlsplit

from flask import current_app, g, request, url_for
from sqlalchemy import func, or_, select

from phoenix.auth import (
    CONCURRENT_CHANGE,
    KEY_FORMAT,
    NAME_TAKEN,
    USERNAME_TAKEN,
    add_key,
    issue_key,
    require_api_key,
    revoke_key,
    rotate_key,
)
from phoenix.database import write_transaction
from phoenix.errors import ApiError, error_answer
from phoenix.extensions import db
from phoenix.jsonio import envelope, success
from phoenix.models import AuthenticationKey, ReservedUsername, utcnow
from phoenix.openapi import TEXT, Answer, Operation, Tag, array_of, header
from phoenix.permissions import DEFAULT_SCOPES, KEYS_MANAGE, require_scope, require_within_caller, scopes_of
from phoenix.resources.base import read_json_body
from phoenix.resources.resource import PhoenixResource
from phoenix.schemas import (
    KeySchema,
    account_key_request_schema,
    key_request_schema,
    key_rotation_schema,
    key_schema,
)

KEY_CREATED = "Congrats! Your API Key has been created!"
KEY_ROTATED = "Your API key has been rotated: this is the new one. The old one no longer works."
REVOKE_CONFIRMED = (
    "Your API key has been revoked: it no longer works. The username {username} stays reserved."
)
REGISTRATION_CLOSED = "Registration is closed on this server: ask its operator for an API key."
SHOWN_ONCE = "The new key: shown this once, so keep it."
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

# The docs of these routes: the bodies (a new key; the calling key) and what making a key may answer.
TAG = Tag("Keys", "Self-service API keys. A key is shown once, in the answer that creates it.")
KEY_MADE = envelope(
    "KeyCreated",
    KeySchema,
    description="A new key: shown this once, in the answer that makes it.",
    api_key={
        "type": "string",
        "description": "The key itself: shown this once. Send it as `api-key` or `Authorization: Bearer`.",
        "pattern": f"^{KEY_FORMAT.pattern}$",
    },
    message=TEXT,
)
OWN_KEY = envelope("OwnKey", description="The calling key; never its secret.", key=KeySchema)
KEY_ENDED = envelope("KeyRevoked", description="The key, now revoked.", key=KeySchema, message=TEXT)
KEY_LIST = envelope(
    "KeyList", description="A username's keys, newest first; never a secret.", keys=array_of(KeySchema)
)
KEY_EXAMPLE = {
    "username": "sumit",
    "name": "default",
    "scopes": list(DEFAULT_SCOPES),
    "prefix": "phx_3f9a0c1d2e4b5a69",
    "state": "active",
    "created_on": "2026-11-22T01:02:03.456789+00:00",
    "last_used_at": None,
    "expires_at": None,
    "grace_until": None,
}
NEW_KEY_EXAMPLE = success(
    **KEY_EXAMPLE,
    api_key="phx_3f9a0c1d2e4b5a69_Xq7bJ9mL0x2c7vYkQ1sWdE8rT5uZ3aNfGh4Kp6Rt8Vw",
    message=KEY_CREATED,
)
NOT_CACHED = {"Cache-Control": header("`no-store`: no cache or proxy may keep the key.", required=True)}


def new_key_answer(description, message, **headers):
    """The 201 that carries a new key."""
    return Answer(
        description, KEY_MADE, {**NEW_KEY_EXAMPLE, "message": message}, headers={**NOT_CACHED, **headers}
    )


# What a key request may answer, for the docs of every route that makes keys.
KEY_ANSWERS = {
    201: new_key_answer(SHOWN_ONCE, KEY_CREATED),
    403: error_answer(
        "Registration is closed (only the operator makes keys: `flask keys create`; `code` "
        "`registration_closed`), the request came from another site's page (`Sec-Fetch-Site: cross-site`, or "
        "an `Origin` not in `CORS_ORIGINS`; `cross_site`), or the username is reserved for the operator "
        "(`reserved_username`).",
        REGISTRATION_CLOSED,
        code="registration_closed",
    ),
    409: error_answer(
        "The username is taken, whatever its case (revoked keys' names included).",
        USERNAME_TAKEN,
        code="username_taken",
    ),
}


def key_shown_once(row, key, message):
    """The body that carries a new key: the only time it is shown."""
    return success(**key_schema.dump(row), api_key=key, message=message)


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
        raise ApiError(403, REGISTRATION_CLOSED, code="registration_closed")
    if cross_site():
        raise ApiError(403, CROSS_SITE, code="cross_site")
    values = key_request_schema.load(data)
    if reserved(values["username"]):
        raise ApiError(403, RESERVED.format(username=values["username"]), code="reserved_username")
    row, key = issue_key(values["username"], values.get("expires_in_days"))
    return key_shown_once(row, key, KEY_CREATED), 201, NO_STORE


class KeyList(PhoenixResource):
    """POST /api/keys {"username": ..., "expires_in_days"?: ...}: the same as /api/generate_key/<username>."""

    method_decorators = [write_transaction]
    docs = {
        "post": Operation(
            summary="Create an API key",
            tag=TAG,
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


class OwnKey(PhoenixResource):
    """GET /api/keys/me: the calling key, never its secret; DELETE /api/keys/me: revoke it."""

    method_decorators = {"get": [require_api_key], "delete": [write_transaction, require_api_key]}
    docs = {
        "get": Operation(
            summary="Show the calling key",
            tag=TAG,
            description="The key that signs this request: its username, name, scopes, prefix and dates; never "
            "the key itself. A key rotated away with an overlap shows until when it works (`grace_until`).",
            answers={200: Answer("The calling key.", OWN_KEY, headers=NOT_CACHED)},
        ),
        "delete": Operation(
            summary="Revoke the calling key",
            tag=TAG,
            description="It stops working from the next request, on every server, and so does every key "
            "rotated from it or into it (its lineage), a rotation racing this revoke included. The username "
            "stays taken, so that nobody else can sign as it.",
            answers={
                200: Answer(
                    "The key, now revoked.",
                    KEY_ENDED,
                    success(
                        message=REVOKE_CONFIRMED.format(username="sumit"),
                        key={**KEY_EXAMPLE, "state": "revoked"},
                    ),
                    headers=NOT_CACHED,
                )
            },
        ),
    }

    def get(self):
        return success(key=key_schema.dump(g.api_key)), 200, NO_STORE

    def delete(self):
        row = revoke_key(g.api_key)
        body = success(message=REVOKE_CONFIRMED.format(username=row.username), key=key_schema.dump(row))
        return body, 200, NO_STORE


class KeyRotation(PhoenixResource):
    """POST /api/keys/me/rotate {"expires_in_days"?: ..., "grace_seconds"?: ...}: a new key for the same
    username, name and scopes."""

    method_decorators = [write_transaction, require_api_key]
    docs = {
        "post": Operation(
            summary="Rotate the calling key",
            tag=TAG,
            description="A new key for the same username, name and scopes; the old one stops working from "
            "the next request, or `grace_seconds` later (at most the server's "
            "`PHOENIX_KEY_MAX_GRACE_SECONDS`), so that the scripts using it can switch without a failed "
            "request. The new key never outlives the old one: its expiry is at most the old key's. The body "
            "is optional: without one, the new key gets the default lifetime and the old one stops now.",
            body=key_rotation_schema,
            body_required=False,
            example={"grace_seconds": 3600},
            answers={
                201: new_key_answer(
                    SHOWN_ONCE,
                    KEY_ROTATED,
                    Location=header("`/api/keys/me`, where the key can be seen.", required=True),
                ),
                409: error_answer(
                    "Another request rotated or revoked this key meanwhile (or it is a key already rotated "
                    "away, in its overlap).",
                    CONCURRENT_CHANGE,
                    code="conflict",
                ),
            },
        )
    }

    def post(self):
        # The body is optional: a bare POST rotates with the default lifetime.
        data = read_json_body() if request.get_data(cache=True).strip() else {}
        values = key_rotation_schema.load(data)
        row, key = rotate_key(g.api_key, values.get("expires_in_days"), values.get("grace_seconds", 0))
        headers = {**NO_STORE, "Location": url_for("own_key")}
        return key_shown_once(row, key, KEY_ROTATED), 201, headers


ACCOUNT_KEY_MINTED = "Your new key {name!r} has been created: keep it, it is shown this once."
ACCOUNT_KEY_REVOKED = "The key {prefix} has been revoked: it, and any key rotated from it, no longer works."
NO_SUCH_KEY = "Your username has no key with this prefix."
KEY_PREFIX = re.compile(r"(phx|legacy)_[0-9a-f]{16}")
PREFIX = {
    "description": "A key's public prefix, as `/api/account/keys` lists it (never the secret).",
    "schema": {"type": "string", "pattern": "^(phx|legacy)_[0-9a-f]{16}$"},
    "example": "phx_3f9a0c1d2e4b5a69",
}
# How many keys an account listing shows at most: a username's keys, newest first.
MAX_LISTED_KEYS = 1000


def account_keys_of(username):
    """The username's keys that work or say why not (not those rotated away, unless in their overlap)."""
    now = utcnow()
    shown = or_(AuthenticationKey.replaced_at.is_(None), AuthenticationKey.grace_until > now)
    return (
        db.session.execute(
            select(AuthenticationKey)
            .where(func.lower(AuthenticationKey.username) == username.lower(), shown)
            .order_by(AuthenticationKey.id.desc())
            .limit(MAX_LISTED_KEYS)
        )
        .scalars()
        .all()
    )


class AccountKeys(PhoenixResource):
    """GET /api/account/keys: the caller's username's keys; POST: another key for it, shown once."""

    method_decorators = {
        "get": [require_scope(KEYS_MANAGE), require_api_key],
        "post": [write_transaction, require_scope(KEYS_MANAGE), require_api_key],
    }
    docs = {
        "get": Operation(
            summary="List your username's keys",
            tag=TAG,
            description="Every key of the calling key's username, newest first: name, scopes, prefix, state "
            "and dates (a key rotated away shows while its overlap lasts). Never a secret.",
            answers={200: Answer("The keys.", KEY_LIST, headers=NOT_CACHED)},
        ),
        "post": Operation(
            summary="Create another key for your username",
            tag=TAG,
            description="A key of its own for a script, a CI job or a laptop, with a `name` (unique among "
            "your working keys) and the least `scopes` it needs (default: those of `records:write`, "
            "`games:write`, `keys:manage` that the calling key has). A key can give only scopes it has, and "
            "the new key expires no later than the calling key. Writes by every key of a username count "
            "against the same limits.",
            body=account_key_request_schema,
            example={"name": "nightly-import", "scopes": ["records:write"], "expires_in_days": 90},
            answers={
                201: new_key_answer(SHOWN_ONCE, ACCOUNT_KEY_MINTED.format(name="nightly-import")),
                409: error_answer(
                    "One of your working keys already has this name.",
                    NAME_TAKEN.format(name="nightly-import"),
                    code="conflict",
                ),
            },
        ),
    }

    def get(self):
        keys = [key_schema.dump(row) for row in account_keys_of(g.api_key.username)]
        return success(keys=keys), 200, NO_STORE

    def post(self):
        values = account_key_request_schema.load(read_json_body())
        own = scopes_of(g.api_key)
        scopes = values.get("scopes") or [scope for scope in DEFAULT_SCOPES if scope in own]
        require_within_caller(scopes)
        row, key = add_key(
            g.api_key.username,
            values["name"],
            scopes,
            values.get("expires_in_days"),
            maker=g.api_key,
        )
        headers = {**NO_STORE, "Location": url_for("account_key", prefix=row.prefix)}
        return key_shown_once(row, key, ACCOUNT_KEY_MINTED.format(name=row.name)), 201, headers


class AccountKey(PhoenixResource):
    """DELETE /api/account/keys/<prefix>: revoke one of the caller's username's keys (and its lineage)."""

    path_parameters = {"prefix": PREFIX}
    method_decorators = [write_transaction, require_scope(KEYS_MANAGE), require_api_key]
    docs = {
        "delete": Operation(
            summary="Revoke one of your username's keys",
            tag=TAG,
            description="By its prefix: it stops working from the next request, on every server, with every "
            "key rotated from it. A prefix that is not one of your username's keys is a 404, whoever holds "
            "it, so that prefixes cannot be probed.",
            answers={
                200: Answer(
                    "The key, now revoked.",
                    KEY_ENDED,
                    success(
                        message=ACCOUNT_KEY_REVOKED.format(prefix=KEY_EXAMPLE["prefix"]), key=KEY_EXAMPLE
                    ),
                    headers=NOT_CACHED,
                ),
                404: error_answer(
                    "Your username has no key with this prefix.", NO_SUCH_KEY, code="not_found"
                ),
            },
        )
    }

    def delete(self, prefix):
        if not KEY_PREFIX.fullmatch(prefix):  # nothing a prefix could be reaches the database
            raise ApiError(404, NO_SUCH_KEY, code="not_found")
        row = db.session.execute(
            select(AuthenticationKey).where(
                AuthenticationKey.prefix == prefix,
                func.lower(AuthenticationKey.username) == g.api_key.username.lower(),
            )
        ).scalar_one_or_none()
        if row is None:
            raise ApiError(404, NO_SUCH_KEY, code="not_found")
        row = revoke_key(row)
        body = success(message=ACCOUNT_KEY_REVOKED.format(prefix=row.prefix), key=key_schema.dump(row))
        return body, 200, NO_STORE
