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

from phoenix.database import Prepared, standalone_read
from phoenix.errors import ApiError, error_answer
from phoenix.extensions import db
from phoenix.models import AuthenticationKey, key_state, utcnow
from phoenix.openapi import Feature, header, shared_answer
from phoenix.permissions import DEFAULT_SCOPES, stored_scopes

NOT_AUTHENTICATED = "You are not authenticated! Please add an authentication key to the header and try again!"
USERNAME_TAKEN = "The username you are trying to register has been already used!"
REVOKED_KEY_REFUSED = "This API key has been revoked and no longer works. Its username stays reserved."
KEY_EXPIRED = "This API key expired on {when} and no longer works: ask the operator for a new one."
KEY_REPLACED = "This API key has been rotated and no longer works: use the key that replaced it."
CONCURRENT_CHANGE = "This API key was rotated or revoked by another request meanwhile."
NAME_TAKEN = "A working key of this username is already named {name!r}: choose another name."
REFUSALS = {"revoked": REVOKED_KEY_REFUSED, "expired": KEY_EXPIRED, "replaced": KEY_REPLACED}
# The code of each refusal (DESIGN, "Responses"); an unknown or missing key is not_authenticated.
REFUSAL_CODES = {"revoked": "key_revoked", "expired": "key_expired", "replaced": "key_rotated"}
AMBIGUOUS = "The api-key and Authorization headers name different keys: send one key, in one of them."
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="phoenix"'}

MAX_KEY_LENGTH = 200
KEY_FORMAT = re.compile(r"(phx_[0-9a-f]{16})_([0-9A-Za-z]{43})")
SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 43  # 43 characters of 62: 256 bits
KEY_BY_PREFIX = Prepared(
    select(*AuthenticationKey.__table__.columns).where(AuthenticationKey.prefix == bindparam("prefix"))
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


def expiry(created_on, expires_in_days, ceiling=None):
    """When a key made at created_on expires: after expires_in_days, or PHOENIX_KEY_MAX_AGE_DAYS, or
    never; and never after ceiling (the expiry of the key that makes it: no key outlives its maker)."""
    days = expires_in_days or current_app.config["PHOENIX_KEY_MAX_AGE_DAYS"]
    candidates = [created_on + timedelta(days=days)] if days else []
    if ceiling is not None:
        candidates.append(ceiling)
    return min(candidates, default=None)


def new_lineage():
    """The id of a new lineage: a key and the keys rotated from it share it."""
    return secrets.token_hex(16)


def new_key_row(
    username,
    expires_in_days=None,
    *,
    name="default",
    scopes=DEFAULT_SCOPES,
    lineage=None,
    founding=False,
    ceiling=None,
):
    """A key row for username, added to the session: (row, key). The key is shown once and never kept."""
    key, prefix, secret = generate_key()
    now = utcnow()
    row = AuthenticationKey(
        username=username,
        prefix=prefix,
        secret_hash=digest(secret),
        created_on=now,
        expires_at=expiry(now, expires_in_days, ceiling),
        name=name,
        scopes=stored_scopes(scopes),
        lineage=lineage or new_lineage(),
        founding=founding,
    )
    db.session.add(row)
    return row, key


def username_taken(username):
    """Whether any key, past or present, holds username (whatever its case)."""
    query = select(AuthenticationKey.id).where(func.lower(AuthenticationKey.username) == username.lower())
    return db.session.execute(query.limit(1)).first() is not None


def issue_key(username, expires_in_days=None, *, name="default", scopes=DEFAULT_SCOPES):
    """Register username with its first key, in the request's transaction: (row, key); 409 if the name is
    taken, whatever its case. A savepoint holds the INSERT, so that a taken name undoes it alone and the
    409 is certain."""
    try:
        with db.session.begin_nested():
            row, key = new_key_row(username, expires_in_days, name=name, scopes=scopes, founding=True)
    except IntegrityError:
        if username_taken(username):
            raise ApiError(409, USERNAME_TAKEN, code="username_taken") from None
        raise
    return row, key


def add_key(username, name, scopes, expires_in_days=None, maker=None):
    """Another key for an existing username, in a lineage of its own, in the request's transaction: (row,
    key).

    maker: the key row that mints it (None: the operator), which must still work once its lineage is
    locked (so a revoke racing this call wins), and past whose expiry the new key does not live.
    409 if one of the username's working keys has that name already (a savepoint settles it).
    """
    ceiling = None
    if maker is not None:
        current = lock_lineage(maker.lineage).get(maker.id)
        if current is None or key_state(current) != "active":
            raise ApiError(409, CONCURRENT_CHANGE, code="conflict")
        ceiling = current.expires_at
    try:
        with db.session.begin_nested():
            row, key = new_key_row(username, expires_in_days, name=name, scopes=scopes, ceiling=ceiling)
    except IntegrityError:
        raise ApiError(409, NAME_TAKEN.format(name=name), code="conflict") from None
    return row, key


def lock_lineage(lineage):
    """Lock every row of a lineage until the commit (PostgreSQL; SQLite's writes are serial already):
    {id: row as it is now}. Revoke and rotate both start here, so one waits for the other."""
    rows = db.session.execute(
        select(*AuthenticationKey.__table__.columns)
        .where(AuthenticationKey.lineage == lineage)
        .with_for_update()
    ).all()
    return {row.id: row for row in rows}


def rotate_key(row, expires_in_days=None, grace_seconds=0, *, any_state=False):
    """Replace row with a new key of the same username, name, scopes and lineage, in the request's
    transaction: (new row, key).

    The old key stops working when that transaction commits, or grace_seconds later. Only a current,
    working key is rotated (409 otherwise, if another request rotated or revoked it meanwhile), unless
    any_state (the operator's command). A key rotates into one that lives no longer than itself, except by
    the operator.
    """
    current = lock_lineage(row.lineage).get(row.id)
    working = current is not None and current.replaced_at is None
    if not any_state:
        working = working and key_state(current) == "active"
    if not working:
        raise ApiError(409, CONCURRENT_CHANGE, code="conflict")
    now = utcnow()
    db.session.execute(
        update(AuthenticationKey)
        .where(AuthenticationKey.id == row.id)
        .values(
            replaced_at=now, grace_until=now + timedelta(seconds=grace_seconds) if grace_seconds else None
        )
        .execution_options(synchronize_session=False)
    )
    new_row, key = new_key_row(
        current.username,
        expires_in_days,
        name=current.name,
        scopes=current.scopes.split(),
        lineage=current.lineage,
        founding=current.founding,
        ceiling=None if any_state else current.expires_at,
    )
    db.session.flush()
    return new_row, key


def revoke_lineage(lineage):
    """Mark every key of a lineage revoked now (the caller's transaction): none of them works after the
    commit, a key a concurrent rotation made from them included."""
    lock_lineage(lineage)
    # A statement of its own, after the lock: it sees a rotation that committed while this one waited.
    db.session.execute(
        update(AuthenticationKey)
        .where(AuthenticationKey.lineage == lineage, AuthenticationKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def revoke_username(username):
    """Revoke every key of username (whatever its case), in the caller's transaction: how many rows were not
    revoked yet. Its rows are locked first, so that a rotation racing this cannot leave a key behind."""
    same_name = func.lower(AuthenticationKey.username) == username.lower()
    db.session.execute(select(AuthenticationKey.id).where(same_name).with_for_update())
    revoked = db.session.execute(
        update(AuthenticationKey)
        .where(same_name, AuthenticationKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return revoked.rowcount


def revoke_key(row):
    """Revoke row's lineage, in the request's transaction: the key (and any rotated from it) stops working
    once that commits; its username stays taken. The row as it now stands."""
    revoke_lineage(row.lineage)
    return db.session.get(AuthenticationKey, row.id, populate_existing=True)


def presented_key():
    """The key sent in the api-key header, or as Authorization: Bearer; None if neither; AMBIGUOUS when
    the two headers name different keys (the request has one caller, or none)."""
    headers = request.headers
    token = headers.get("api-key", "").strip()
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
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
    # Prepared, not the ORM: this runs on every signed request, and a plain row is all it needs. It stands
    # alone, before the request's own transaction (which so needs no connection yet for it).
    with standalone_read():
        row = KEY_BY_PREFIX.first({"prefix": prefix})
    if row is None or not hmac.compare_digest(row.secret_hash, secret_digest):
        return None
    return SimpleNamespace(**row._asdict())


def request_key():
    """The request's key check, made once per request and kept on g: (working key row or None, refusal),
    the refusal an ApiError (401) to raise."""
    state = g._get_current_object()  # one lookup of the context-local (request_ids.request_id)
    if getattr(state, "key_check", None) is None:
        state.key_check = check_key()
    return state.key_check


def check_key():
    """The request's key check, made: (working key row or None, refusal)."""
    token = presented_key()
    if token is AMBIGUOUS:
        return None, AMBIGUOUS
    row = find_key(token) if token else None
    state = key_state(row) if row is not None else "unknown"
    if state == "active":
        return row, None
    if state == "expired":
        message = KEY_EXPIRED.format(when=row.expires_at.isoformat(timespec="seconds"))
    else:
        message = REFUSALS.get(state, NOT_AUTHENTICATED)
    code = REFUSAL_CODES.get(state, "not_authenticated")
    return None, ApiError(401, message, headers=CHALLENGE, code=code)


def commit_last_used_on_its_own(row):
    """Set last_used_at to now and commit it at once, before the request's own work begins: the one write
    that is not the request's (a refused or failed request still used its key). At most once a
    LAST_USED_RESOLUTION per key, whatever the worker."""
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
    def with_working_key(*args, **kwargs):
        row, refusal = request_key()
        if refusal is AMBIGUOUS:
            raise ApiError(400, AMBIGUOUS, code="ambiguous_credentials")
        if row is None:
            raise refusal
        commit_last_used_on_its_own(row)
        g.api_key = row
        return view(*args, **kwargs)

    return with_working_key


# What require_api_key documents on every operation it guards: the key schemes, and the 401.
SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "api-key",
        "description": "The key from POST /api/keys.",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key as `Authorization: Bearer <key>`.",
    },
}
NOT_AUTHENTICATED_ANSWER = shared_answer(
    "NotAuthenticated",
    error_answer(
        "No key, or one that is unknown, malformed, revoked, expired or rotated away: the message says which.",
        NOT_AUTHENTICATED,
        headers={
            "WWW-Authenticate": header(
                "The scheme to use: a Bearer token (or the `api-key` header).",
                {"type": "string", "enum": [CHALLENGE["WWW-Authenticate"]]},
                required=True,
            )
        },
    ),
)
require_api_key.openapi = Feature(
    # Either scheme signs a request.
    security=({"ApiKey": []}, {"Bearer": []}),
    security_schemes=SECURITY_SCHEMES,
    answers={401: NOT_AUTHENTICATED_ANSWER},
)


def stamp_modification(item, created=False):
    """Mark item as changed now by the calling key's user (and created now, if it is new)."""
    # Read before any attribute is set: a load here must not flush half a stamp as a version of its own.
    username = g.api_key.username
    now = utcnow()
    if created:
        item.creationdate = now
        item.createdby = username
    item.lastmodificationdate = now
    item.lastmodifiedby = username
