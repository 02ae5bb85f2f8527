"""API keys: making them, finding the one a request presents, and stamping writes with its username.

A key reads `phx_<prefix>_<secret>`: the prefix (16 hex digits) finds the row, the secret (43 base-62
characters, 256 bits) is stored only as its SHA-256 digest. Keys issued before hashing (migration 0003)
have no prefix of their own: theirs is derived from their digest, so that they are found the same way.
"""

import hashlib
import hmac
import re
import secrets
import string
from datetime import timedelta
from functools import wraps
from types import SimpleNamespace

from flask import current_app, g, request
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from phoenix.database import connection
from phoenix.errors import ApiError
from phoenix.extensions import db
from phoenix.models import AuthenticationKey, key_state, utcnow

NOT_AUTHENTICATED = "You are not authenticated! Please add an authentication key to the header and try again!"
USERNAME_TAKEN = "The username you are trying to register has been already used!"
KEY_REVOKED = "This API key has been revoked and no longer works. Its username stays reserved."
KEY_EXPIRED = "This API key expired on {when} and no longer works: ask the operator for a new one."
KEY_REPLACED = "This API key has been rotated and no longer works: use the key that replaced it."
CONCURRENT_CHANGE = "This API key was rotated or revoked by another request meanwhile."
AMBIGUOUS = "The api-key and Authorization headers name different keys: send one key, in one of them."
REFUSALS = {"revoked": KEY_REVOKED, "expired": KEY_EXPIRED, "replaced": KEY_REPLACED}
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="phoenix"'}

MAX_KEY_LENGTH = 200
KEY_FORMAT = re.compile(r"(phx_[0-9a-f]{16})_([0-9A-Za-z]{43})")
SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 43  # 43 characters of 62: 256 bits
KEY_BY_PREFIX = select(*AuthenticationKey.__table__.columns).where(
    AuthenticationKey.prefix == bindparam("prefix")
)
# last_used_at is written at most this often per key, so that a busy key does not cost a write a request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def digest(secret):
    """The SHA-256 digest of a secret, in hex: all that is stored of it."""
    return hashlib.sha256(secret.encode()).hexdigest()


def legacy_prefix(secret_digest):
    """The prefix of a key from before hashing, which had none: derived from its digest (migration 0003)."""
    return "legacy_" + secret_digest[:16]


def generate_key():
    """A new key and its parts: (key, prefix, secret), from the operating system's CSPRNG."""
    prefix = "phx_" + secrets.token_hex(8)
    # Letters and digits only, so that a double click selects the whole key.
    secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    return f"{prefix}_{secret}", prefix, secret


def expiry(created_on, expires_in_days):
    """When a key made at created_on expires: after expires_in_days, or PHOENIX_KEY_MAX_AGE_DAYS, or never."""
    days = expires_in_days or current_app.config["PHOENIX_KEY_MAX_AGE_DAYS"]
    return created_on + timedelta(days=days) if days else None


def new_key_row(username, expires_in_days=None):
    """A key row for username, added to the session: (row, key). The key is shown once and never kept."""
    key, prefix, secret = generate_key()
    now = utcnow()
    row = AuthenticationKey(
        username=username,
        prefix=prefix,
        secret_hash=digest(secret),
        created_on=now,
        expires_at=expiry(now, expires_in_days),
    )
    db.session.add(row)
    return row, key


def username_taken(username):
    """Whether any key, past or present, holds username (whatever its case)."""
    query = select(AuthenticationKey.id).where(func.lower(AuthenticationKey.username) == username.lower())
    return db.session.execute(query.limit(1)).first() is not None


def issue_key(username, expires_in_days=None):
    """Create and commit a key for username: (row, key); 409 if the name is taken, whatever its case."""
    row, key = new_key_row(username, expires_in_days)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if username_taken(username):
            raise ApiError(409, USERNAME_TAKEN) from None
        raise
    return row, key


def rotate_key(row, expires_in_days=None, *, any_state=False):
    """Replace row with a new key for the same username, in one transaction: (new row, key).

    The old key stops working with the commit. Only a current, working key is rotated (409 otherwise,
    if another request rotated or revoked it meanwhile), unless any_state (the operator's command).
    """
    still_current = AuthenticationKey.replaced_at.is_(None)
    if not any_state:
        still_current &= AuthenticationKey.revoked_at.is_(None)
    replaced = db.session.execute(
        update(AuthenticationKey)
        .where(AuthenticationKey.id == row.id, still_current)
        .values(replaced_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if replaced.rowcount != 1:
        db.session.rollback()
        raise ApiError(409, CONCURRENT_CHANGE)
    new_row, key = new_key_row(row.username, expires_in_days)
    db.session.commit()
    return new_row, key


def revoke_key(row):
    """Mark row revoked now and commit: it stops working at once; its username stays taken."""
    db.session.execute(
        update(AuthenticationKey)
        .where(AuthenticationKey.id == row.id, AuthenticationKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.get(AuthenticationKey, row.id, populate_existing=True)


def presented_key():
    """The key sent in the api-key header, or as Authorization: Bearer; None if neither; AMBIGUOUS when
    the two headers name different keys (the request has one caller, or none)."""
    token = request.headers.get("api-key", "").strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else ""
    if token and bearer and token != bearer:
        return AMBIGUOUS
    token = token or bearer
    # Anything no key could look like never reaches the database (a NUL would upset PostgreSQL).
    if not token or len(token) > MAX_KEY_LENGTH or not token.isascii() or not token.isprintable():
        return None
    return token


def find_key(token):
    """The key row that token proves, or None: one lookup by prefix, digests compared in constant time."""
    match = KEY_FORMAT.fullmatch(token)
    if match:
        prefix, secret_digest = match[1], digest(match[2])
    else:
        secret_digest = digest(token)
        prefix = legacy_prefix(secret_digest)
    # Core, not the ORM: this runs on every signed request, and a plain row is all it needs.
    row = connection().execute(KEY_BY_PREFIX, {"prefix": prefix}).first()
    if row is None or not hmac.compare_digest(row.secret_hash, secret_digest):
        return None
    return SimpleNamespace(**row._mapping)


def request_key():
    """The request's key check, made once per request and kept on g: (working key row or None, refusal)."""
    if "key_check" not in g:
        token = presented_key()
        if token is AMBIGUOUS:
            g.key_check = (None, AMBIGUOUS)
            return g.key_check
        row = find_key(token) if token else None
        state = key_state(row) if row is not None else "unknown"
        if state == "active":
            g.key_check = (row, None)
        elif state == "expired":
            g.key_check = (None, KEY_EXPIRED.format(when=row.expires_at.isoformat(timespec="seconds")))
        else:
            g.key_check = (None, REFUSALS.get(state, NOT_AUTHENTICATED))
    return g.key_check


def note_use(row):
    """Set last_used_at to now, at most once a LAST_USED_RESOLUTION per key, whatever the worker."""
    now = utcnow()
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_RESOLUTION:
        return
    # The condition is checked again by the database, so workers racing on one key write it once.
    written = db.session.execute(
        update(AuthenticationKey)
        .where(
            AuthenticationKey.id == row.id,
            (AuthenticationKey.last_used_at.is_(None))
            | (AuthenticationKey.last_used_at <= now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if written.rowcount == 1:
        row.last_used_at = now  # what the database now holds


def require_api_key(view):
    """Refuse the request with 401 unless it presents a working key; put the key row on g.api_key."""

    @wraps(view)
    def checked(*args, **kwargs):
        row, refusal = request_key()
        if refusal is AMBIGUOUS:
            raise ApiError(400, AMBIGUOUS, code="ambiguous_credentials")
        if row is None:
            raise ApiError(401, refusal, headers=CHALLENGE)
        note_use(row)
        g.api_key = row
        return view(*args, **kwargs)

    return checked


def stamp_modification(item, created=False):
    """Mark item as changed now by the calling key's user (and created now, if it is new)."""
    # Read before any attribute is set: a load here must not flush half a stamp as a version of its own.
    username = g.api_key.username
    now = utcnow()
    if created:
        item.creationdate = now
    item.lastmodificationdate = now
    item.lastmodifiedby = username
