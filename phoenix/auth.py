"""API keys: making them, finding the one a request presents, and stamping writes with its username."""

import secrets
from functools import wraps

from flask import g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from phoenix.database import connection
from phoenix.errors import ApiError
from phoenix.extensions import db
from phoenix.models import AuthenticationKey, utcnow

NOT_AUTHENTICATED = "You are not authenticated! Please add an authentication key to the header and try again!"
USERNAME_TAKEN = "The username you are trying to register has been already used!"
MAX_KEY_LENGTH = 200


def generate_key():
    """A new random key: 192 bits from the operating system's CSPRNG, URL-safe."""
    return secrets.token_urlsafe(24)


def issue_key(username):
    """Create and commit a key for username; 409 if the name is taken, whatever its case."""
    key = AuthenticationKey(username=username, key=generate_key(), created_on=utcnow())
    db.session.add(key)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, USERNAME_TAKEN) from None
    return key


def presented_key():
    """The key sent in the api-key header, or as Authorization: Bearer; None if neither."""
    token = request.headers.get("api-key", "").strip()
    if not token:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            token = credentials.strip()
    # Anything no key could look like never reaches the database (a NUL would upset PostgreSQL).
    if not token or len(token) > MAX_KEY_LENGTH or not token.isascii() or not token.isprintable():
        return None
    return token


def find_key(token):
    """The key's row (id, username, key, created_on) that token proves, or None."""
    # On the request's connection (phoenix.database): in an autocommit view, one round trip, no BEGIN.
    return (
        connection()
        .execute(select(*AuthenticationKey.__table__.columns).where(AuthenticationKey.key == token))
        .first()
    )


def require_api_key(view):
    """Refuse the request with 401 unless it presents a valid key; put the key row on g.api_key."""

    @wraps(view)
    def checked(*args, **kwargs):
        token = presented_key()
        key = find_key(token) if token else None
        if key is None:
            raise ApiError(401, NOT_AUTHENTICATED, headers={"WWW-Authenticate": 'Bearer realm="phoenix"'})
        g.api_key = key
        return view(*args, **kwargs)

    return checked


def stamp_modification(item, created=False):
    """Mark item as changed now by the calling key's user (and created now, if it is new)."""
    now = utcnow()
    if created:
        item.creationdate = now
    item.lastmodificationdate = now
    item.lastmodifiedby = g.api_key.username
