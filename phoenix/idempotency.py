"""Idempotency-Key on creates: a retry within 24 hours replays the first answer instead of creating again."""

import hashlib
from datetime import timedelta

import orjson
from flask import g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from phoenix.errors import ApiError, error_answer
from phoenix.extensions import db
from phoenix.models import AuthenticationKey, IdempotentRequest, utcnow
from phoenix.openapi import Feature, header, shared_answer, shared_parameter

HEADER = "Idempotency-Key"
LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255
REUSED = "This Idempotency-Key was already used with a different request. Use a new key for a new request."
REUSED_FIELD_ERROR = "Already used with a different request."
INVALID = f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
REUSED_ERRORS = {HEADER: [REUSED_FIELD_ERROR]}
REPLAYED = "Idempotent-Replayed"


def idempotency_key():
    """The request's Idempotency-Key, None without one, 400 if it cannot be one."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ApiError(400, INVALID, {HEADER: ["Not valid."]}, code="invalid_parameters")
    return key


def fingerprint():
    """What makes a request the same request: method, path (/api/records/ is /api/records) and body, as
    parsed JSON (the spacing and key order of the bytes do not count). Only creates that parsed their
    body as JSON get here."""
    path = request.path.rstrip("/") or "/"
    digest = hashlib.sha256(f"{request.method} {path}\n".encode())
    digest.update(orjson.dumps(orjson.loads(request.get_data(cache=True)), option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def replay(stored, expected_fingerprint):
    """The stored answer again, or 422 if the key came with a different request."""
    if stored.fingerprint != expected_fingerprint:
        raise ApiError(422, REUSED, REUSED_ERRORS, code="idempotency_key_reused")
    g.idempotent_replay = True  # counted by phoenix.metrics
    headers = {REPLAYED: "true"}
    if stored.location:
        headers["Location"] = stored.location
    return orjson.loads(stored.body), stored.status, headers


def find_stored(key):
    """The unexpired stored answer for this Idempotency-Key from any key of the caller's username (so a
    retry after a rotation replays), if any."""
    return (
        db.session.execute(
            select(IdempotentRequest)
            .join(AuthenticationKey, AuthenticationKey.id == IdempotentRequest.key_id)
            .where(
                AuthenticationKey.username == g.api_key.username,
                IdempotentRequest.idempotency_key == key,
                IdempotentRequest.created_at > utcnow() - LIFETIME,
            )
            .order_by(IdempotentRequest.created_at.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )


def idempotent(create):
    """Run create() (which adds rows and returns body, status, headers) at most once per Idempotency-Key.

    It only adds to the request's transaction (@write_transaction commits it). With a key, the create and
    its stored answer go in a savepoint: when a concurrent request with the same key got there first, the
    unique constraint refuses this one, the savepoint undoes it alone, and the first answer is replayed.
    """
    key = idempotency_key()
    if key is None:
        return create()
    expected = fingerprint()
    stored = find_stored(key)
    if stored is not None:
        return replay(stored, expected)
    db.session.execute(  # an expired answer under the same key makes way for the new one
        delete(IdempotentRequest).where(
            IdempotentRequest.key_id == g.api_key.id,
            IdempotentRequest.idempotency_key == key,
            IdempotentRequest.created_at <= utcnow() - LIFETIME,
        )
    )
    try:
        with db.session.begin_nested():
            body, status, headers = create()
            db.session.add(
                IdempotentRequest(
                    key_id=g.api_key.id,
                    idempotency_key=key,
                    fingerprint=expected,
                    status=status,
                    body=orjson.dumps(body).decode(),
                    location=headers.get("Location"),
                    created_at=utcnow(),
                )
            )
        g.stored_idempotent_answer = True  # phoenix.housekeeping sweeps expired ones now and then
    except IntegrityError:
        stored = find_stored(key)
        if stored is None:
            raise
        return replay(stored, expected)
    return body, status, headers


# The docs of an idempotent create: the Idempotency-Key header, the replay's header, the 422 of a reused key.
IDEMPOTENT = Feature(
    parameters=(
        shared_parameter(
            HEADER,
            {
                "in": "header",
                "name": HEADER,
                "description": "Any unique value of yours (a UUID, say): within 24 hours, a retry with the same "
                "key and body gets the first answer again (with `Idempotent-Replayed: true`) and creates nothing.",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_KEY_LENGTH,
                    # Printable ASCII, not only spaces (the server trims them).
                    "pattern": "^[ -~]*[!-~][ -~]*$",
                },
                "example": "6f1c9e0a-4b7d-4c2e-9a51-3d8e7f2b1c04",
            },
        ),
    ),
    answers={
        422: shared_answer(
            "IdempotencyKeyReused",
            error_answer(
                "The Idempotency-Key was already used with a different request (another body or route).",
                REUSED,
                REUSED_ERRORS,
            ),
        )
    },
    success_headers={
        REPLAYED: header(
            "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.",
            {"type": "string", "enum": ["true"]},
        )
    },
)
