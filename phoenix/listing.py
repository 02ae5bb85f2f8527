"""Listing for both collections: one page at a time, newest rules in one place."""

from flask import request, url_for
from sqlalchemy import select

from phoenix.errors import ApiError
from phoenix.extensions import db
from phoenix.models import MAX_ID, Change

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def whole_number(raw, maximum):
    """raw as an int from 0 to maximum, or None.

    ASCII digits only: str.isdigit() also says yes to "²" and "٣", which int() refuses or misreads; and
    the length is checked before int() reads it, so a 5000-digit value is just a bad one.
    """
    if not (raw.isascii() and raw.isdigit()):
        return None
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(maximum)) or int(digits) > maximum:
        return None
    return int(digits)


def parse_limit(raw, default=DEFAULT_LIMIT, maximum=MAX_LIMIT):
    """The page size from the limit parameter: 1 to maximum."""
    if raw is None:
        return default
    limit = whole_number(raw, maximum)
    if not limit:
        raise ApiError(400, f"limit must be a whole number from 1 to {maximum}.", {"limit": ["Not valid."]})
    return limit


def parse_cursor(raw):
    """The id after which the page starts: one that a page gave out, so a possible id."""
    if raw is None:
        return 0
    after = whole_number(raw, MAX_ID)
    if after is None:
        raise ApiError(400, "cursor is not one that this API gave out.", {"cursor": ["Not valid."]})
    return after


def escape_like(text):
    """text with LIKE's wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_page(collection, args=None, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT):
    """One page of a collection: (items, next_cursor), ordered by id."""
    args = request.args if args is None else args
    unknown = set(args) - {"limit", "cursor", *collection.filters}
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ApiError(
            400, f"Unknown query parameter: {names}.", {name: ["Unknown parameter."] for name in unknown}
        )
    limit = parse_limit(args.get("limit"), default_limit, max_limit)
    after = parse_cursor(args.get("cursor"))
    model = collection.model
    query = select(model).where(model.id > after).order_by(model.id).limit(limit + 1)
    for name in collection.filters:
        if name in args:
            if "\x00" in args[name]:
                raise ApiError(400, f"{name} must not contain a NUL character.", {name: ["Not valid."]})
            query = query.where(getattr(model, name).ilike(f"%{escape_like(args[name])}%", escape="\\"))
    items = db.session.execute(query).scalars().all()
    next_cursor = str(items[limit - 1].id) if len(items) > limit else None
    return items[:limit], next_cursor


def history_page(collection, item_id, args=None):
    """One page of an item's history, oldest first: (entries, next_cursor)."""
    args = request.args if args is None else args
    unknown = set(args) - {"limit", "cursor"}
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ApiError(
            400, f"Unknown query parameter: {names}.", {name: ["Unknown parameter."] for name in unknown}
        )
    limit = parse_limit(args.get("limit"))
    after = parse_cursor(args.get("cursor"))
    query = (
        select(Change)
        .where(Change.collection == collection.plural, Change.item_id == item_id, Change.version > after)
        .order_by(Change.version)
        .limit(limit + 1)
    )
    entries = db.session.execute(query).scalars().all()
    next_cursor = str(entries[limit - 1].version) if len(entries) > limit else None
    return entries[:limit], next_cursor


def next_link(next_cursor, endpoint, **values):
    """The URL of the next page, keeping the other query parameters."""
    if next_cursor is None:
        return None
    params = request.args.to_dict()
    params["cursor"] = next_cursor
    return url_for(endpoint, **values, **params)
