"""Marshmallow schemas: the one place where the fields of each resource and their rules live."""

import unicodedata
from functools import partial

import orjson
from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from marshmallow_sqlalchemy import ModelConverter
from sqlalchemy import Boolean, Float, Integer, String

from phoenix.extensions import ma
from phoenix.models import AuthenticationKey, Game, Record, key_state
from phoenix.permissions import SCOPES

READ_ONLY_MESSAGE = "Read-only field: the server sets it."
AT_LEAST_ONE_RECORD_FIELD = "Please populate atleast one field into the record and try again!"
AT_LEAST_ONE_FIELD = "Send at least one field to change."
# The years a game may have, written once: the schema checks them, the docs and the landing page say them.
FIRST_YEAR, LAST_YEAR = 1950, 2100

USERNAME_RULE = "Use 1 to 64 letters, digits, '_', '.' or '-'."


class JSONFloat(fields.Float):
    """A finite JSON number: strings and booleans are refused, not coerced."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class JSONInteger(fields.Integer):
    """A JSON integer: 1996.5, "1996" and true are refused."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)


class JSONBoolean(fields.Boolean):
    """A JSON true or false: "yes", 1 and "true" are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


# Bidirectional controls reorder what is shown around them: "evil\u202egnp.exe" reads as "evilexe.png".
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Letters and symbols that draw nothing (Hangul fillers, the blank Braille pattern).
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def visible(character):
    """Whether a character draws something: not a space, control, format (U+200B and kin) or blank."""
    return unicodedata.category(character)[0] not in "ZC" and character not in BLANK_LETTERS


class Text(fields.String):
    """A JSON string without NUL characters (PostgreSQL cannot store them), optionally trimmed."""

    default_error_messages = {
        "nul": "Must not contain a NUL character.",
        "blank": "Must not be blank.",
        "bidi": "Must not contain bidirectional control characters (U+202A to U+202E, U+2066 to U+2069).",
    }

    def __init__(self, *, trim=False, plain=False, **kwargs):
        """trim: strip surrounding white space and refuse a value without a visible character (only
        spaces, or invisible and format characters such as U+200B); plain: refuse bidi controls too."""
        super().__init__(**kwargs)
        self.trim = trim
        self.plain = plain

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in value:
            raise self.make_error("nul")
        if self.trim:
            value = value.strip()
            if not any(visible(character) for character in value):
                raise self.make_error("blank")
        if self.plain and not BIDI_CONTROLS.isdisjoint(value):
            raise self.make_error("bidi")
        return value

    def openapi_properties(self):
        """What it refuses, for the spec: blank values where it trims."""
        return {"minLength": 1, "pattern": r"\S"} if self.trim else {}


class WholeMatch(validate.Regexp):
    """A regular expression that the whole value must match.

    Written with ^ and $ so that the OpenAPI spec carries it as a pattern that JavaScript (Swagger UI)
    and JSON Schema read the same way; fullmatch keeps Python's $ from letting a trailing newline in.
    """

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class UTCTimestamp(fields.Field):
    """A server-set UTC datetime, written as ISO 8601 with its offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else iso_timestamp(value)

    def openapi_properties(self):
        """Its JSON Schema, for the spec (phoenix.openapi asks each field)."""
        return {"type": "string", "format": "date-time"}


class JSONConverter(ModelConverter):
    """Maps columns to the strict JSON fields above, keeping lengths and nullability."""

    SQLA_TYPE_MAPPING = {
        **ModelConverter.SQLA_TYPE_MAPPING,
        Float: JSONFloat,
        Integer: JSONInteger,
        Boolean: JSONBoolean,
        String: Text,
    }


class BaseSchema(ma.SQLAlchemySchema):
    """Rules shared by every input: no unknown fields, read-only fields named as such."""

    class Meta:
        model_converter = JSONConverter
        load_instance = False

    def load(self, data, **kwargs):
        """marshmallow's own load: these schemas never load model instances (load_instance = False).

        marshmallow-sqlalchemy 1.6's load asks importlib.metadata for marshmallow's version on every
        call, reading package metadata from disk: a third of a millisecond on each write.
        """
        return Schema.load(self, data, **kwargs)

    def validate(self, data, **kwargs):
        """marshmallow's own validate, for the same reason as load."""
        return Schema.validate(self, data, **kwargs)

    def handle_error(self, error, data, *, many, **kwargs):
        """Say "read-only" rather than "unknown" for fields that the server sets."""
        read_only = set(self.fields) - set(self.load_fields)
        messages = error.messages
        for index_messages in messages.values() if many else [messages]:
            if not isinstance(index_messages, dict):
                continue
            for name in read_only & set(index_messages):
                index_messages[name] = [READ_ONLY_MESSAGE]
        raise error

    @validates_schema
    def require_a_change(self, data, partial=False, **kwargs):
        """A partial update (PATCH) must name at least one field."""
        if partial and not data:
            raise ValidationError(AT_LEAST_ONE_FIELD)


class StampedSchema(BaseSchema):
    """The server-set fields that every record and game carries."""

    id = fields.Integer(dump_only=True)
    creationdate = UTCTimestamp(dump_only=True)
    lastmodificationdate = UTCTimestamp(dump_only=True)
    lastmodifiedby = fields.String(dump_only=True)


class NeedsAValue:
    """A schema whose whole items (POST, PUT) must have at least one field with a value.

    A mixin, so that the OpenAPI spec can tell the rule from the schema's type (phoenix/openapi.py).
    """

    @validates_schema
    def require_a_value(self, data, partial=False, **kwargs):
        """A whole item must have at least one non-null value."""
        if not partial and all(data.get(name) is None for name in self.load_fields):
            raise ValidationError(AT_LEAST_ONE_RECORD_FIELD)


class RecordSchema(NeedsAValue, StampedSchema):
    """A record: timestamp, value1, value2, value3; POST and PUT need one with a value; null clears one."""

    class Meta(BaseSchema.Meta):
        model = Record
        fields = (
            "id", "timestamp", "value1", "value2", "value3",
            "creationdate", "lastmodificationdate", "lastmodifiedby",
        )  # fmt: skip

    timestamp = ma.auto_field()
    value1 = ma.auto_field()
    value2 = ma.auto_field()
    value3 = ma.auto_field()


class GameSchema(StampedSchema):
    """A game: every field required, strings trimmed and non-blank, year within FIRST_YEAR and LAST_YEAR."""

    class Meta(BaseSchema.Meta):
        model = Game
        fields = (
            "id", "name", "platform", "publisher", "genre", "year",
            "creationdate", "lastmodificationdate", "lastmodifiedby",
        )  # fmt: skip

    name = ma.auto_field(trim=True, plain=True)
    platform = ma.auto_field(trim=True)
    publisher = ma.auto_field(trim=True)
    genre = ma.auto_field(trim=True)
    year = ma.auto_field(validate=validate.Range(min=FIRST_YEAR, max=LAST_YEAR))


class KeyLifetimeField(JSONInteger):
    """expires_in_days: a whole number of days, at most PHOENIX_KEY_MAX_AGE_DAYS when that is set."""

    default_error_messages = {"too_long": "Must be at most {max} (this server's PHOENIX_KEY_MAX_AGE_DAYS)."}

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Range(min=1, max=36500), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        max_age = current_app.config["PHOENIX_KEY_MAX_AGE_DAYS"]
        if max_age and value > max_age:
            raise self.make_error("too_long", max=max_age)
        return value


class KeyLifetimeSchema(BaseSchema):
    """The part of every key request that says how long the new key lives."""

    class Meta(BaseSchema.Meta):
        model = AuthenticationKey
        fields = ("expires_in_days",)

    expires_in_days = KeyLifetimeField(load_only=True)


class GraceField(JSONInteger):
    """grace_seconds: how long a rotated-away key goes on working, 0 to PHOENIX_KEY_MAX_GRACE_SECONDS."""

    default_error_messages = {
        "too_long": "Must be at most {max} (this server's PHOENIX_KEY_MAX_GRACE_SECONDS)."
    }

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Range(min=0), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        most = current_app.config["PHOENIX_KEY_MAX_GRACE_SECONDS"]
        if value > most:
            raise self.make_error("too_long", max=most)
        return value


class KeyRotationSchema(KeyLifetimeSchema):
    """A request to rotate the calling key: optionally, how long the new one lives, and how long the old
    one goes on working (an overlap, so that a fleet switches without a failed request)."""

    class Meta(KeyLifetimeSchema.Meta):
        fields = ("expires_in_days", "grace_seconds")

    grace_seconds = GraceField(load_only=True)


class KeyRequestSchema(KeyLifetimeSchema):
    """A request for a new API key: a username and, optionally, how long the key lives."""

    class Meta(KeyLifetimeSchema.Meta):
        fields = ("username", "expires_in_days")

    username = ma.auto_field(
        validate=WholeMatch(
            r"^[A-Za-z0-9_.-]{1,64}$",
            error=USERNAME_RULE,
        )
    )


KEY_NAME = WholeMatch(
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
    error="Use 1 to 64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit.",
)


class Scopes(fields.List):
    """A key's scopes: a JSON array of scope names, stored as one space-separated string."""

    def __init__(self, **kwargs):
        super().__init__(fields.String(validate=validate.OneOf(SCOPES)), **kwargs)

    default_error_messages = {"unknown": "Unknown scope {names}: use some of {scopes}."}

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.split()

    def _deserialize(self, value, attr, data, **kwargs):
        # One flat message naming the bad ones: a List's own errors are keyed by index.
        if isinstance(value, list):
            unknown = [name for name in value if not isinstance(name, str) or name not in SCOPES]
            if unknown:
                names = ", ".join(map(repr, unknown[:5]))
                raise self.make_error("unknown", names=names, scopes=", ".join(SCOPES))
        return super()._deserialize(value, attr, data, **kwargs)


class AccountKeyRequestSchema(KeyLifetimeSchema):
    """A request for another key of the caller's username: its name, scopes and lifetime."""

    class Meta(KeyLifetimeSchema.Meta):
        fields = ("name", "scopes", "expires_in_days")

    name = fields.String(required=True, validate=KEY_NAME)
    scopes = Scopes(load_only=True, validate=validate.Length(min=1, max=len(SCOPES)))


class KeyState(fields.String):
    """A key's state, worked out from its row: active, replaced, revoked or expired."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.OneOf(["active", "replaced", "revoked", "expired"]), **kwargs)

    def serialize(self, attr, obj, accessor=None, **kwargs):
        return key_state(obj)


class KeySchema(BaseSchema):
    """An API key as its owner sees it: never the secret (creation adds the key itself, once)."""

    class Meta(BaseSchema.Meta):
        model = AuthenticationKey
        fields = (
            "username", "name", "scopes", "prefix", "state",
            "created_on", "last_used_at", "expires_at", "grace_until",
        )  # fmt: skip

    username = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    scopes = Scopes(dump_only=True)
    prefix = fields.String(dump_only=True)
    state = KeyState(dump_only=True)
    created_on = UTCTimestamp(dump_only=True)
    last_used_at = UTCTimestamp(dump_only=True, allow_none=True)
    expires_at = UTCTimestamp(dump_only=True, allow_none=True)
    # Set while a rotated-away key goes on working: until when.
    grace_until = UTCTimestamp(dump_only=True, allow_none=True)


class StoredChanges(fields.Dict):
    """A history entry's changes, as the database stores them: already JSON ({field: [old, new]}), so the
    fast dump passes them as they are (marshmallow's Dict took 8 us an entry, 0.8 ms a feed page): the
    decoded dict, or the stored JSON text itself, which the answer's encoder (orjson) embeds unparsed."""


def stored_json(value):
    """A history entry's changes for the answer: a dict as it is; JSON text as a fragment to embed."""
    return orjson.Fragment(value) if isinstance(value, str) else value


class HistorySchema(ma.Schema):
    """One entry of an item's history, as clients read it (the validators describe it for the spec)."""

    version = fields.Integer(dump_only=True, validate=validate.Range(min=1))
    action = fields.String(dump_only=True, validate=validate.OneOf(["created", "modified", "removed"]))
    changed_by = fields.String(dump_only=True)
    via = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The prefix of the key that made the change (as /api/keys/me shows it); "
            "null for an operator's command or an import."
        },
    )
    changed_at = UTCTimestamp(dump_only=True)
    # Each field that changed: [old value, new value].
    changes = StoredChanges(
        keys=fields.String(),
        values=fields.List(fields.Raw(allow_none=True), validate=validate.Length(equal=2)),
        dump_only=True,
    )


def dumper(schema):
    """A fast schema.dump for one item read from the database (an ORM object or a Row), for an answer: the
    same JSON once orjson encodes it (answer_timestamp).

    marshmallow spends some 9 us on an item, half a millisecond on a page of 50. The fields still come
    from the schema, the one place they are defined: values of the plain types pass as the database gave
    them, timestamps are formatted as UTCTimestamp does, and any other field serializes itself.
    """
    plan = [
        (name, f"item.{field.attribute or name}", conversion(field, name))
        for name, field in schema.dump_fields.items()
    ]
    return compiled_dump(plan)


def row_dumper(schema, columns):
    """dumper's for a Row of columns (names, in the row's order; it may hold others): the same JSON."""
    position = {column: index for index, column in enumerate(columns)}
    missing = sorted({field.attribute or name for name, field in schema.dump_fields.items()} - set(position))
    if missing:
        raise ValueError(f"row_dumper: {schema} needs the columns {missing}")
    plan = [
        (name, f"item[{position[field.attribute or name]}]", conversion(field, name))
        for name, field in schema.dump_fields.items()
    ]
    return compiled_dump(plan)


def compiled_dump(plan):
    """dump(item) for plan, [(output name, how the item gives its value, conversion or None)] in the
    schema's order: one dict display, written once as Python source and compiled, as dataclasses writes
    its __init__. A loop over the plan costs 1.6 us a row, this 1.1: 30 us on a page of 50 (timeit).
    The names and accessors come from the schema's fields and the table's columns, never from a request.
    """
    conversions, entries = {}, []
    for number, (name, value, convert) in enumerate(plan):
        if convert is None:
            entries.append(f"{name!r}: {value}")
        else:
            conversions[f"convert{number}"] = convert
            entries.append(f"{name!r}: None if {value} is None else convert{number}({value})")
    namespace = dict(conversions)
    exec(f"def dump(item):\n    return {{{', '.join(entries)}}}\n", namespace)
    return namespace["dump"]


def conversion(field, name):
    """How a field turns a database value into JSON: None (as it is), a timestamp's format, or its own."""
    if type(field) in PASS_THROUGH:
        return None
    if type(field) is JSONFloat:
        # A number column is a float in JSON too (5.0, not 5), whatever a driver hands back: SQLite's
        # RETURNING gives 5 for a 5.0 just stored.
        return float
    if type(field) is UTCTimestamp:
        return answer_timestamp
    if type(field) is StoredChanges:
        return stored_json
    return partial(serialize_value, field, name)


def iso_timestamp(value):
    """ISO 8601 with microseconds and offset: 2026-11-22T01:02:03.456789+00:00, microseconds always.

    orjson writes it: five times faster than isoformat(timespec=...), which took a fifth of a page of 50
    (py-spy); only it leaves out a fraction of zero, which goes back in.
    """
    text = orjson.dumps(value)[1:-1].decode()
    return text if value.microsecond else f"{text[:19]}.000000{text[19:]}"


def answer_timestamp(value):
    """A timestamp for an answer's encoder, which is orjson: it writes a datetime itself as iso_timestamp
    does, unless its fraction is zero (then the text is given). 0.4 us a value, 40 on a page of 50 records."""
    return value if value.microsecond else iso_timestamp(value)


def serialize_value(field, name, value):
    """A field's own serialization of a value (marshmallow's hook for custom fields)."""
    return field._serialize(value, name, None)


# Fields whose dump of a database value is that value (the driver gives the right Python type).
PASS_THROUGH = {fields.Integer, fields.String, JSONInteger, JSONBoolean, Text}

record_schema = RecordSchema()
game_schema = GameSchema()
key_request_schema = KeyRequestSchema()
key_rotation_schema = KeyRotationSchema()
account_key_request_schema = AccountKeyRequestSchema()
key_schema = KeySchema()
history_schema = HistorySchema()
