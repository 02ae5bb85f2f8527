"""Idempotency-Key on creates: a retry within 24 hours replays the first answer instead of creating again."""

import hashlib
from datetime import timedelta

import orjson
from flask import g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from phoenix.errors import ApiError
from phoenix.extensions import db
from phoenix.models import AuthenticationKey, IdempotentRequest, utcnow

HEADER = "Idempotency-Key"
LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255
REUSED = "This Idempotency-Key was already used with a different request. Use a new key for a new request."
INVALID = f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."


def idempotency_key():
    """The request's Idempotency-Key, None without one, 400 if it cannot be one."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ApiError(400, INVALID, {HEADER: ["Not valid."]})
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
        raise ApiError(422, REUSED, {HEADER: ["Already used with a different request."]})
    headers = {"Idempotent-Replayed": "true"}
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
    """Run create() (which adds rows and returns body, status, headers) and commit, at most once per key."""
    key = idempotency_key()
    if key is None:
        answer = create()
        db.session.commit()
        return answer
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
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent request with the same key committed first: its answer stands, this one is undone.
        db.session.rollback()
        stored = find_stored(key)
        if stored is None:
            raise
        return replay(stored, expected)
    return body, status, headers
