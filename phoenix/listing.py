"""Listing for both collections: filters, sorting and keyset (cursor) pagination, from one table of data.

Records and games differ only in their `Listing`: which query parameters filter, which fields sort. The
rest is shared: the parameters are read through a marshmallow schema built from that table, and a page
is one indexed range read, `WHERE (sort keys, id) > (the cursor's) ORDER BY sort keys, id LIMIT n`,
which costs the same on the millionth row as on the first. The cursor is the last row's sort keys and id,
so rows added or removed behind it shift nothing: no row is skipped or repeated.

Every page costs a bounded amount of database work, whatever a client asks (DESIGN, "Bounded cost"):
a sort is on one field (and id), which an index serves; `count=exact` counts up to COUNT_CAP (with a
substring search, SEARCH_COUNT_CAP); and a
substring search (`q`, `name`), which no B-tree index can serve, is answered by bounded probing
(`searched_rows`): the page is first looked for among the next rows in the list's order, a window of
FIRST_WINDOW rows; a search that fills its page there (a common substring) is done,
in the time of an index range read. Otherwise a count of the matches, stopped at RARE_MATCHES, tells a
rare substring, whose few matches the trigram index finds, from a commoner one: that one is looked for in
a larger window (SEARCH_WINDOW rows), and when even that does not fill the page, the page holds the
window's matches only, and its cursor resumes after the window. (When the first window holds some
matches, the larger window comes before the count.) So a page may hold
fewer items than the limit while next_cursor says that more may follow. A window is read from the index
of its order alone, which holds the searched text (models.order_index), and only the page's rows are
fetched from the table.
"""

import base64
import binascii
import hashlib
import hmac
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from urllib.parse import urlencode

import orjson
from flask import current_app, request, url_for
from marshmallow import Schema, ValidationError, fields, missing, validate, validates_schema
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
)

from phoenix.database import Prepared, connection
from phoenix.errors import ApiError, and_more, at_most
from phoenix.models import FOLDED_IN_ORDER, SEARCHED, UTCDateTime, folded, nulls_last, plain, searched_key
from phoenix.schemas import Text

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_INTEGER = 2**63 - 1
MAX_INTEGER_COLUMN = 2**31 - 1  # INTEGER on PostgreSQL: a cursor value beyond it is no position in the list
MAX_FLOAT = sys.float_info.max
BAD_PARAMETERS = "The query has bad parameters: {names}. See errors for what each needs."
BAD_CURSOR = "Not a cursor that this list gave out: use next_cursor or links.next as they came."
QUERY_SAFE = "!$'()*,/:;?@"  # what werkzeug leaves unescaped in a URL's query (url_for's encoding)
CURSOR_TAG_SIZE = 16  # bytes of HMAC-SHA256: 128 bits
# Bounded cost (see the module's docstring). A search looks for its page among the next FIRST_WINDOW rows
# (a substring in 5% of rows or more fills a page of 50 there); then it takes the trigram index if fewer
# than RARE_MATCHES rows match in all; else it looks among the next SEARCH_WINDOW rows (enough for a page
# of 50 of a substring in 0.5%), a few milliseconds' reading of one index in order, whatever the limit.
FIRST_WINDOW = 1_000
SEARCH_WINDOW = 10_000
RARE_MATCHES = 1000
TRIGRAM = 3  # a substring shorter than a trigram cannot use the trigram index
COUNT_CAP = 10_000
SEARCH_COUNT_CAP = 1_000  # a substring search counts through the trigram index, a heap fetch a match
ONE_SORT_FIELD = (
    "Sort by one field (id breaks ties): no index serves a sort on several, which would sort every row."
)
# The docs of what bounded cost adds to a list's answer and its description (the OpenAPI spec shows them).
TOTAL_DOCS = {
    "total": {
        "type": "integer",
        "minimum": 0,
        "maximum": COUNT_CAP,
        "description": f"How many items the filters keep, counted up to {COUNT_CAP:,}, or {SEARCH_COUNT_CAP:,} "
        "with a substring search (see total_exact).",
    },
    "total_exact": {
        "type": "boolean",
        "description": "false when more items are kept than were counted: total is then a lower bound.",
    },
}
BOUNDED_COST_DOCS = (
    "Every page costs bounded work: `sort` takes one field (and `id`); `count=exact` counts up to "
    f"{COUNT_CAP:,} ({SEARCH_COUNT_CAP:,} with a substring search); a substring search looks for its page among the next rows in order and, when the "
    "substring is neither rare nor found there, answers the matches of those rows alone, so a page may "
    "hold fewer items than `limit` while `next_cursor` leads on."
)
# What a list request counts as against the reads limit (phoenix/ratelimits.py), in plain reads: the
# bounded cost of the costliest requests still counts in proportion (DESIGN, "Bounded cost per request").
ITEMS_PER_READ = 100  # a page of up to 100 items is one read; limit=500 is five
# A substring search reads up to FIRST_WINDOW + SEARCH_WINDOW index entries and their rows (or probes
# the trigram index for up to RARE_MATCHES), and a count up to COUNT_CAP entries: some fifty pages by id
# each. Weighed so, eight clients at the default reads limit (3000/minute each) cannot keep the database
# busy with them: soak part (f) measures a plain read meanwhile.
SEARCH_READS = 50
COUNT_READS = 50
SHORT_COUNT = (
    "count=exact needs {names} of at least 3 characters: a shorter substring has no index to count with."
)


# --- what a list offers: filters and sort keys -------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """A query parameter that narrows a list: how its value is read (a field), what it keeps (a condition)."""

    field: fields.Field
    condition: object  # value -> SQL condition
    substring_of: object = None  # the column, for a substring search: served by searched_rows


def query_text(**kwargs):
    """A string from the query: NUL refused (PostgreSQL cannot compare it), at most 255 characters."""
    kwargs.setdefault("validate", validate.Length(max=255))
    return Text(**kwargs)


def keys_of(column):
    """The keys that a column's index is on (phoenix.models), so that the index serves its filters.

    A boolean is only ever filtered on, never sorted: its index is on the plain column.
    """
    if column.nullable and not isinstance(column.type, Boolean):
        return nulls_last(column)
    return plain(column)


def described(text):
    """A field's metadata: the description that the OpenAPI spec shows for its parameter."""
    return {"metadata": {"description": text}}


def equals(column):
    """The column equals the value, exactly."""
    *flag, key = keys_of(column)
    field_class = {Float: FiniteFloat, Integer: StrictQueryInteger, Boolean: QueryBoolean}.get(
        type(column.type), query_text
    )

    def condition(value):
        return and_(flag[0] == 0, key == value) if flag else key == value

    return Filter(field_class(**described(f"Only the items whose {column.name} is exactly this.")), condition)


def equals_folded(column):
    """The column equals the value, whatever the case of either."""
    (key,) = folded(column)
    return Filter(
        query_text(**described(f"Only the items whose {column.name} is this, whatever its case.")),
        lambda value: key == func.lower(literal(value, key.type), type_=key.type),
    )


def contains(column):
    """A case-insensitive part of the column; % and _ are plain characters."""
    return Filter(
        query_text(
            validate=validate.Length(min=1, max=255),
            **described(
                f"Only the items whose {column.name} contains this, whatever its case; "
                "`%` and `_` are plain characters."
            ),
        ),
        lambda value: substring_condition(column, substring_pattern(value)),
        substring_of=column,
    )


def substring_pattern(value):
    """The ILIKE pattern of "contains value": LIKE's wildcards in value are plain characters."""
    return f"%{escape_like(value)}%"


def substring_condition(column, pattern):
    """column matches pattern (substring_pattern's, or a parameter bound to one), whatever the case."""
    return column.ilike(pattern, escape="\\")


def bounds(name, column):
    """name_min and name_max: the column is at least, at most the value (a NULL is neither)."""
    *flag, key = keys_of(column)
    not_null = [flag[0] == 0] if flag else []
    if isinstance(column.type, UTCDateTime):
        field_class = QueryDateTime
    else:
        field_class = FiniteFloat if isinstance(column.type, Float) else StrictQueryInteger
    return {
        f"{name}_min": Filter(
            field_class(**described(f"Only the items whose {name} is at least this.")),
            lambda value: and_(*not_null, key >= value),
        ),
        f"{name}_max": Filter(
            field_class(**described(f"Only the items whose {name} is at most this.")),
            lambda value: and_(*not_null, key <= value),
        ),
    }


def escape_like(text):
    """text with LIKE's wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class QueryBoolean(fields.Boolean):
    """true or false in a query string (any case); 1, yes and on are refused as in JSON bodies."""

    def _deserialize(self, value, attr, data, **kwargs):
        lowered = value.lower() if isinstance(value, str) else None
        if lowered not in ("true", "false"):
            raise self.make_error("invalid", input=value)
        return lowered == "true"


class FiniteFloat(fields.Float):
    """A finite number from a query string: nan and inf are refused."""

    def __init__(self, **kwargs):
        super().__init__(allow_nan=False, **kwargs)


class QueryDateTime(fields.DateTime):
    """An RFC 3339 date-time with its offset (2026-11-22T01:02:03+00:00, or Z): without one the instant is
    unknown, so it is refused rather than guessed."""

    default_error_messages = {
        "invalid": "Not a date-time: give one like 2026-11-22T01:02:03+00:00 (in a URL, + is %2B).",
        "naive": "Give the date-time with its offset, like 2026-11-22T01:02:03+00:00 or ...Z.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or len(value) > 64 or "T" not in value.upper():
            raise self.make_error("invalid")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None
        if parsed.tzinfo is None:
            raise self.make_error("naive")
        return parsed


class StrictQueryInteger(fields.Integer):
    """A whole number from a query string: digits with an optional sign, within 64 bits (what a database
    can compare); 1.5, 1e3 and 1.0 are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not value.lstrip("+-").isdigit() or not value.isascii():
            raise self.make_error("invalid", input=value)
        number = super()._deserialize(value, attr, data, **kwargs)
        if abs(number) > MAX_INTEGER:
            raise self.make_error("invalid", input=value)
        return number


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: statements are cached per Listing
class Listing:
    """What one list offers: its name, table, filters, sort keys, and the size of its pages."""

    name: str
    model: type
    filters: dict = field(default_factory=dict)
    sorts: dict = field(default_factory=dict)  # field name -> the SQL keys it sorts by
    default_limit: int = DEFAULT_LIMIT
    max_limit: int = MAX_LIMIT
    countable: bool = True

    @cached_property
    def parameters(self):
        """The schema that reads this list's query parameters (built once)."""
        return parameters_schema(self)

    @cached_property
    def columns(self):
        """The table's columns, selected as they are (a Row is lighter than an ORM object); a JSON column
        as the JSON text the database stores, which the answer embeds unparsed (schemas.StoredChanges).

        Decoding it only to encode it again took a fifth of a feed page's time (py-spy); and PostgreSQL
        prints a jsonb number such as 1e+300 as its 301 digits, an integer no JSON encoder takes."""
        return tuple(
            cast(column, String).label(column.name) if isinstance(column.type, JSON) else column
            for column in self.model.__table__.columns
        )


# --- reading the query -------------------------------------------------------------------------------


class SortField(fields.String):
    """sort: comma-separated field names, each optionally prefixed with - for descending."""

    default_error_messages = {
        "unknown": "Not a sortable field: {name}. Sort by {choices}.",
        "repeated": "{name} is given more than once.",
        "empty": "Give at least one field, like sort=id or sort=-id.",
        "several": ONE_SORT_FIELD,
    }

    def __init__(self, choices, **kwargs):
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not value.strip():
            raise self.make_error("empty")
        order = []
        for part in value.split(","):
            part = part.strip()
            descending = part.startswith("-")
            name = part[1:] if descending else part
            if name not in self.choices:
                raise self.make_error("unknown", name=name or "''", choices=", ".join(self.choices))
            if name in (seen for seen, _ in order):
                raise self.make_error("repeated", name=name)
            if order and name != "id":
                # Bounded cost: a second field would be sorted in memory over every row that shares a
                # value of the first (1.1 s at a million records for sort=lastmodifiedby,value2).
                raise self.make_error("several")
            order.append((name, descending))
        return tuple(order)


class ParametersSchema(Schema):
    """Query parameters: unknown ones are refused by name."""

    error_messages = {"unknown": "Unknown parameter."}

    @validates_schema
    def bounds_are_ordered(self, data, **kwargs):
        """x_min may not exceed x_max (bounds() makes them in pairs)."""
        for low in [name for name in data if name.endswith("_min")]:
            high = low[: -len("_min")] + "_max"
            if high in data and data[low] > data[high]:
                raise ValidationError(f"Must not be more than {high}.", low)


def parameters_schema(listing):
    """A schema instance for listing's parameters: limit, cursor, sort, count and its filters."""
    limit_message = f"Must be a whole number from 1 to {listing.max_limit}."
    declared = {
        "limit": StrictQueryInteger(
            validate=validate.Range(min=1, max=listing.max_limit, error=limit_message),
            error_messages={"invalid": limit_message},
            metadata={
                "description": f"How many items a page holds: 1 to {listing.max_limit}.",
                "default": listing.default_limit,
            },
        ),
        "cursor": fields.String(
            validate=validate.Length(min=1, max=4096),
            **described("Where the page starts: the `next_cursor` of the page before, as it came (opaque)."),
        ),
    }
    if listing.sorts:
        names = "|".join(listing.sorts)
        declared["sort"] = SortField(
            choices=tuple(listing.sorts),
            metadata={
                "description": "The order: one field, `-` before it for descending, then optionally `id` "
                f"(default `id`; `id` breaks ties). Fields: {', '.join(listing.sorts)}.",
                "pattern": f"^-?({names})(,-?id)?$",
                "example": "-" + next(iter(listing.sorts)),
            },
        )
    if listing.countable:
        declared["count"] = fields.String(
            validate=validate.OneOf(["exact"], error="The only count is count=exact."),
            **described(
                f"`exact` adds `total`: how many items the filters keep, counted up to {COUNT_CAP:,} "
                f"({SEARCH_COUNT_CAP:,} with a substring search, which needs at least 3 characters), and "
                "`total_exact`."
            ),
        )
        # One enum for both lists, named for client generators (phoenix.openapi).
        declared["count"].metadata["openapi_schema_name"] = "Count"
    declared.update({name: spec.field for name, spec in listing.filters.items()})
    # parameters_reader loads the given fields alone: none may be filled in or required when absent.
    filled = [name for name, spec in declared.items() if spec.required or spec.load_default is not missing]
    if filled:
        raise RuntimeError(
            f"{listing.name}: {filled} must be read when absent, which parameters_reader does not"
        )
    schema_class = ParametersSchema.from_dict(declared, name=f"{listing.name.title()}ListParameters")
    return schema_class()


def read_parameters(listing, args):
    """The query parameters, validated: a dict of the ones given; 400 naming each bad one."""
    repeated = {name: ["Give this parameter once."] for name, values in args.lists() if len(values) > 1}
    try:
        if repeated:
            raise ValidationError(repeated)
        given = args.to_dict()
        params = parameters_reader(listing, frozenset(given)).load(given)
        searched = [name for name, spec in listing.filters.items() if spec.substring_of and name in params]
        if params.get("count") == "exact" and searched and all(len(params[n]) < TRIGRAM for n in searched):
            raise ValidationError({"count": [SHORT_COUNT.format(names=" or ".join(searched))]})
        return params
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        messages, left_out = at_most(dict(sorted(messages.items(), key=lambda item: str(item[0]))))
        names = and_more(", ".join(str(name) for name in messages), left_out)
        raise ApiError(400, BAD_PARAMETERS.format(names=names), messages, code="invalid_parameters") from None


@lru_cache(maxsize=256)
def parameters_reader(listing, given):
    """The schema that reads the query parameters named given: listing.parameters with only those of its
    fields. The answer is the same, refusals included (a name it does not declare is still unknown, and
    no parameter is required or has a default to fill in); but marshmallow runs every field of a schema
    on every load, given or not, and the records' 16 cost a first page 47 us, the given one 12 (timeit)."""
    full = listing.parameters
    return type(full)(only=given & full.fields.keys())


def read_cost(listing, args):
    """How many reads a list request counts as against the reads limit, from its query parameters alone
    (the limit is checked before the request runs); a bad value counts as the default, and then is a 400."""
    limit = args.get("limit", "")
    size = int(limit) if limit.isascii() and limit.isdigit() and 0 < int(limit) <= listing.max_limit else 0
    cost = 1 + max(size - 1, 0) // ITEMS_PER_READ
    if any(spec.substring_of is not None and name in args for name, spec in listing.filters.items()):
        cost += SEARCH_READS
    if args.get("count") == "exact":
        cost += COUNT_READS
    return cost


# --- the sort order and its cursor -------------------------------------------------------------------


def order_keys(listing, sort):
    """[(SQL key, descending)] for a sort: the fields' keys, then id in the last field's direction."""
    model = listing.model
    keys = []
    for name, descending in sort:
        if name == "id":
            return [*keys, (model.id, descending)]  # id is unique: nothing after it can matter
        keys.extend((key, descending) for key in listing.sorts[name])
    return [*keys, (model.id, sort[-1][1] if sort else False)]


def after(keys):
    """The rows strictly after the cursor's position, in the order keys: the keyset condition, whose
    values are the parameters cursor_0, cursor_1, ... (cursor_parameters)."""
    expressions = [key for key, _ in keys]
    bound = [bindparam(f"cursor_{i}", type_=key.type) for i, key in enumerate(expressions)]
    directions = {descending for _, descending in keys}
    if len(directions) == 1:
        # One row comparison: an index on the same keys reads from the position on.
        left, right = tuple_(*expressions), tuple_(*bound)
        return left < right if directions.pop() else left > right
    # Mixed directions: the first key bounds the range, the rest is spelt out.
    either = []
    for i, (key, descending) in enumerate(keys):
        equal = [expressions[j] == bound[j] for j in range(i)]
        either.append(and_(*equal, key < bound[i] if descending else key > bound[i]))
    first, first_descending = keys[0]
    return and_(first <= bound[0] if first_descending else first >= bound[0], or_(*either))


def sort_text(sort):
    """The sort as the query spells it: "name,-year"."""
    return ",".join(("-" if descending else "") + name for name, descending in sort)


def checksum(listing, payload):
    """The cursor's signature: HMAC-SHA256 under PHOENIX_SECRET_KEY, of the list's name and the payload.

    Only this server can make a cursor, so what a cursor holds was written by Phoenix: a client cannot
    hand it values that no page ever ended on (a date past year 9999 in UTC, an id beyond any column).
    """
    secret = current_app.config["PHOENIX_SECRET_KEY"].encode()
    message = b"phoenix cursor\x00" + listing.name.encode() + b"\x00" + payload
    return hmac.new(secret, message, hashlib.sha256).digest()[:CURSOR_TAG_SIZE]


def encode_cursor(listing, sort, values):
    """An opaque cursor: the sort and the last row's key values, with a checksum, in URL-safe base64."""
    payload = orjson.dumps([sort_text(sort), [to_json(value) for value in values]])
    return base64.urlsafe_b64encode(payload + checksum(listing, payload)).rstrip(b"=").decode()


def decode_cursor(listing, raw, sort, keys):
    """The key values in a cursor; 400 if it was not made by this list, or for another sort."""
    try:
        blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise bad_cursor() from None
    payload, check = blob[:-CURSOR_TAG_SIZE], blob[-CURSOR_TAG_SIZE:]
    if len(blob) <= CURSOR_TAG_SIZE or not hmac.compare_digest(check, checksum(listing, payload)):
        raise bad_cursor()
    try:
        given_sort, values = orjson.loads(payload)
        if given_sort != sort_text(sort):
            raise bad_cursor(f"This cursor is for sort={given_sort}: keep the sort of the first page.")
        if len(values) != len(keys):
            raise bad_cursor()
        return [from_json(value, key.type) for value, (key, _) in zip(values, keys, strict=True)]
    except (orjson.JSONDecodeError, TypeError, ValueError, OverflowError):
        raise bad_cursor() from None


def cursor_parameters(values):
    """The parameters of after's condition: the cursor's values, by position."""
    return {f"cursor_{i}": value for i, value in enumerate(values)}


def bad_cursor(message=BAD_CURSOR):
    return ApiError(400, message, {"cursor": ["Not valid."]}, code="invalid_parameters")


def to_json(value):
    return value.isoformat() if isinstance(value, datetime) else value


def from_json(value, sql_type):
    """A cursor value back to the Python type of its key, within what its column can hold, or ValueError
    (or OverflowError)."""
    if isinstance(sql_type, UTCDateTime):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive datetime")
        return parsed.astimezone(UTC)  # 9999-12-31T23:59:59-14:00 is past year 9999: OverflowError
    if isinstance(sql_type, Float) and type(value) in (int, float) and abs(value) <= MAX_FLOAT:
        return value
    largest = MAX_INTEGER if isinstance(sql_type, BigInteger) else MAX_INTEGER_COLUMN
    if isinstance(sql_type, Integer) and type(value) is int and abs(value) <= largest:
        return value
    if isinstance(sql_type, String) and isinstance(value, str) and "\x00" not in value:
        return value
    raise ValueError("a cursor value of the wrong type")


# --- the page ----------------------------------------------------------------------------------------


@dataclass
class Page:
    """One page of a list: its rows, the cursor of the next page (None on the last), the total if asked
    (at most COUNT_CAP: total_exact says whether more were left uncounted)."""

    rows: list
    next_cursor: str | None
    total: int | None = None
    total_exact: bool = True


def list_page(listing, args=None, where=()):
    """One page of listing, as the query parameters (args, default the request's) ask, within where
    (conditions of the caller's own, such as one item's history)."""
    params = read_parameters(listing, request.args if args is None else args)
    query = PageQuery(listing, params, where)
    if query.searches:
        rows, resume_after = searched_rows(query)
    else:
        rows, resume_after = query.run("rows", query.parameters), None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        resume_after = rows[-1][len(listing.columns) :]
    next_cursor = None if resume_after is None else encode_cursor(listing, query.sort, resume_after)
    if params.get("count") != "exact":
        return Page(rows, next_cursor)
    cap = SEARCH_COUNT_CAP if query.searches else COUNT_CAP
    counted = connection().execute(query.total, {**query.parameters, "count_cap": cap + 1}).scalar_one()
    return Page(rows, next_cursor, min(counted, cap), counted <= cap)


def searched_rows(query):
    """The rows of a page with a substring search, by bounded probing (see the module's docstring):
    (rows, None), or (the window's matches, the sort keys of the window's last row) when the page ends
    with the window."""
    rows, window_end = in_window(query, FIRST_WINDOW)
    if window_end is None:
        return rows, None  # a full page in the next rows (a common substring), or no rows left after them
    # No match nearby: ask whether the substring is rare. Some: it is commoner (a substring in 0.7% of a
    # million rows costs 1.4 to 2.2 times less this way, measured), and a larger window comes first.
    asked = not rows
    if asked and is_rare(query):
        return trigram_rows(query), None
    rows, window_end = in_window(query, SEARCH_WINDOW)
    if window_end is None:
        return rows, None
    if not asked and is_rare(query):
        return trigram_rows(query), None  # its few matches were near the start
    return rows, window_end


def is_rare(query):
    """Whether fewer than RARE_MATCHES rows match in all, counted through the trigram index (when the
    substring has a trigram: a shorter one would be counted by reading the whole table)."""
    return (
        query.trigram_usable
        and query.run("rare", {**query.parameters, "rare": RARE_MATCHES})[0][0] < RARE_MATCHES
    )


def trigram_rows(query):
    """The page's rows, all matches found through the trigram index and sorted: for a rare substring."""
    return query.run("rows", query.parameters)


def in_window(query, size):
    """(the matches among the next size rows, None) when they fill the page or no row is left after
    them; else (those matches, the sort keys of the window's last row)."""
    rows = query.run("in_window", {**query.parameters, "window_size": size})
    if len(rows) > query.limit:
        return rows, None
    window_end = next(iter(query.run("window_end", {**query.parameters, "window_end": size - 1})), None)
    return rows, None if window_end is None else tuple(window_end)


class PageQuery:
    """The SQL for one page: `rows` (one more than the limit, to tell whether a next page exists, with
    the sort keys after the columns, for the cursor), executed with `parameters`; `total` (the count of
    what the filters keep, up to :count_cap); and for a substring search, the probes of searched_rows."""

    def __init__(self, listing, params, where=()):
        self.sort = params.get("sort") or (("id", False),)
        self.limit = params.get("limit", listing.default_limit)
        self.parameters = {"page_size": self.limit + 1}
        keys, rows, first_page = ordered_select(listing, self.sort)
        given = {name: spec for name, spec in listing.filters.items() if name in params}
        conditions = [
            *where,
            *(spec.condition(params[name]) for name, spec in given.items() if not spec.substring_of),
        ]
        self.keys, self.filters, self.resumed = keys, conditions, "cursor" in params
        if self.resumed:
            self.parameters.update(
                cursor_parameters(decode_cursor(listing, params["cursor"], self.sort, keys))
            )
        self.searches = [
            (spec.substring_of, params[name]) for name, spec in given.items() if spec.substring_of
        ]
        self.trigram_usable = any(len(value) >= TRIGRAM for _, value in self.searches)
        searched = tuple(column for column, _ in self.searches)
        patterns = {f"search_{i}": substring_pattern(value) for i, (_, value) in enumerate(self.searches)}
        self.patterns = list(zip(searched, patterns.values(), strict=True))
        self.table = listing.model.__table__
        # The commonest pages run statements made once for their shape, prepared (database.Prepared): a
        # page with no filter, and a search with no other filter, first or resumed after a cursor (whose
        # values, and the search's terms, are parameters). Built anew for each page, the statements of a
        # search after a cursor cost as much as its database work: q=classic's second page took 4.4 to
        # 4.6 ms in-process against 2.0 to 2.4 for its first (1,000,000 records); now 2.1 to 2.4.
        self.prepared = {}
        if not (conditions or searched):
            self.prepared["rows"] = resumed_page(listing, self.sort) if self.resumed else first_page
            self.rows = self.prepared["rows"].statement
        elif searched and not conditions:
            self.parameters.update(patterns)
            self.prepared = search_statements(listing, self.sort, searched, self.resumed)
            for name, prepared in self.prepared.items():
                setattr(self, name, prepared.statement)
        else:
            self.rows = rows.where(*self.matching)
            if searched:
                probing = probes(listing, self.sort, keys, self.conditions, searched, list(patterns.values()))
                self.in_window, self.window_end, self.rare = probing

    @property
    def conditions(self):
        """The conditions of the page's rows but the substring searches: the filters and the cursor's
        (built only when asked: a prepared page does not need them)."""
        return [*self.filters, after(self.keys)] if self.resumed else self.filters

    @property
    def matching(self):
        """The conditions of the page's rows: the filters, the cursor and the substring searches."""
        return [
            *self.conditions,
            *(substring_condition(column, pattern) for column, pattern in self.patterns),
        ]

    def run(self, name, parameters):
        """The rows of one of the page's statements (rows; in_window, window_end, rare for a search):
        prepared when made once for the page's shape, else through Core."""
        prepared = self.prepared.get(name)
        if prepared is not None:
            return prepared.rows(parameters)
        return connection().execute(getattr(self, name), parameters).all()

    @property
    def total(self):
        """The count of what the filters keep, up to :count_cap; built only when asked (py-spy: building
        it for every page took 2 to 3% of a list's time)."""
        capped = (
            select(literal(1)).select_from(self.table).where(*self.matching).limit(bindparam("count_cap"))
        )
        return select(func.count()).select_from(capped.subquery())


def probes(listing, sort, keys, conditions, searched, patterns):
    """The statements of searched_rows' bounded probing, in the order keys (of sort) within conditions,
    for the columns searched and their patterns (strings, or parameters): in_window, the matches among
    the next :window_size rows in order; window_end, the sort keys of the last of those rows; rare, the
    count of all matches, stopped at :rare.

    The window reads only what an index of the order holds (models.order_index): the sort keys, id and
    the searched text, folded; the page's rows are then fetched by id. When that index has the folded
    text as its last key, the window is ordered by it too (it changes no order after id), and PostgreSQL
    reads the window from that index alone: 7,000 rows in 1.4 ms instead of 7.9 (pgbench, 1,000,000
    records by -timestamp)."""
    table = listing.model.__table__
    ordered = directed(keys)
    if (table.name, sort[0][0]) in FOLDED_IN_ORDER and searched == (table.c[SEARCHED[table.name]],):
        last = searched_key(table)
        ordered.append(last.desc() if keys[-1][1] else last.asc())
    # lower() LIKE, which PostgreSQL's ILIKE does on UTF-8 text anyway: a quarter cheaper a row read
    # (EXPLAIN ANALYZE, 7,000 rows of a window), and the index's own lower() needs no computing at all.
    texts = [func.lower(column, type_=column.type).label(f"_text{i}") for i, column in enumerate(searched)]
    window = (
        select(table.c.id, *(key.label(f"_key{i}") for i, (key, _) in enumerate(keys)), *texts)
        .where(*conditions).order_by(*ordered).limit(bindparam("window_size", type_=Integer))
        .subquery("window")
    )  # fmt: skip
    window_keys = [window.c[f"_key{i}"] for i in range(len(keys))]
    found = [
        window.c[f"_text{i}"].like(func.lower(pattern), escape="\\") for i, pattern in enumerate(patterns)
    ]
    page = (
        select(window.c.id, *window_keys).where(*found).order_by(*directed(keys, window_keys))
        .limit(bindparam("page_size")).subquery("page")
    )  # fmt: skip
    page_keys = [page.c[f"_key{i}"] for i in range(len(keys))]
    in_window = (
        select(*listing.columns, *page_keys).join_from(table, page, table.c.id == page.c.id)
        .order_by(*directed(keys, page_keys))
    )  # fmt: skip
    window_end = (
        select(*(key for key, _ in keys)).select_from(table).where(*conditions).order_by(*ordered)
        .offset(bindparam("window_end", type_=Integer)).limit(1)
    )  # fmt: skip
    matches = [
        substring_condition(column, pattern) for column, pattern in zip(searched, patterns, strict=True)
    ]
    rare = select(func.count()).select_from(
        select(literal(1)).select_from(table).where(*conditions, *matches).limit(bindparam("rare")).subquery()
    )
    return in_window, window_end, rare


@lru_cache(maxsize=256)
def search_statements(listing, sort, searched, resumed):
    """The statements of a search on the columns searched with no other filter, made once for each list,
    sort, columns and whether a cursor resumes it, prepared; the patterns are the parameters :search_0,
    :search_1, ..., and the cursor's values :cursor_0, ... (after)."""
    keys, rows, _ = ordered_select(listing, sort)
    conditions = [after(keys)] if resumed else []
    patterns = [bindparam(f"search_{i}", type_=String) for i in range(len(searched))]
    in_window, window_end, rare = probes(listing, sort, keys, conditions, searched, patterns)
    matches = [
        substring_condition(column, pattern) for column, pattern in zip(searched, patterns, strict=True)
    ]
    statements = {
        "rows": rows.where(*conditions, *matches),
        "in_window": in_window,
        "window_end": window_end,
        "rare": rare,
    }
    return {name: Prepared(statement) for name, statement in statements.items()}


@lru_cache(maxsize=256)
def ordered_select(listing, sort):
    """(keys, SELECT of the columns and sort keys ORDER BY them LIMIT :page_size, that SELECT prepared) for
    a list and sort: made once, reused."""
    keys = order_keys(listing, sort)
    rows = select(*listing.columns, *(key.label(f"_key{i}") for i, (key, _) in enumerate(keys)))
    rows = rows.order_by(*directed(keys)).limit(bindparam("page_size", type_=Integer))
    return keys, rows, Prepared(rows)


@lru_cache(maxsize=256)
def resumed_page(listing, sort):
    """A page of a list and sort with no filter, after a cursor (:cursor_0, ...), prepared: made once."""
    keys, rows, _ = ordered_select(listing, sort)
    return Prepared(rows.where(after(keys)))


def directed(keys, columns=None):
    """The ORDER BY terms of keys [(key, descending)], or of the columns that stand for them in a
    subquery, each in its key's direction."""
    columns = [key for key, _ in keys] if columns is None else columns
    return [
        column.desc() if descending else column.asc()
        for column, (_, descending) in zip(columns, keys, strict=True)
    ]


def next_link(next_cursor, endpoint, **values):
    """The URL of the next page, keeping the other query parameters (values: the URL's own, like id)."""
    if next_cursor is None:
        return None
    params = request.args.to_dict()
    params["cursor"] = next_cursor
    # The query as url_for would encode it (werkzeug's own safe characters), after the path that url_for
    # builds: url_for given the query too takes twice as long (19.7 us against 9.1, python -m timeit).
    return f"{url_for(endpoint, **values)}?{urlencode(params, safe=QUERY_SAFE)}"


def link_header(link):
    """The next page as a Link header (RFC 8288), or no header on the last page."""
    return {"Link": f'<{link}>; rel="next"'} if link else {}
