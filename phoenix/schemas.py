"""Marshmallow schemas: the one place where the fields of each resource and their rules live."""

from functools import partial

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from marshmallow_sqlalchemy import ModelConverter
from sqlalchemy import Boolean, Float, Integer, String

from phoenix.extensions import ma
from phoenix.models import AuthenticationKey, Game, Record

READ_ONLY_MESSAGE = "Read-only field: the server sets it."
AT_LEAST_ONE_RECORD_FIELD = "Please populate atleast one field into the record and try again!"
AT_LEAST_ONE_FIELD = "Send at least one field to change."


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


class Text(fields.String):
    """A JSON string without NUL characters (PostgreSQL cannot store them), optionally trimmed."""

    default_error_messages = {
        "nul": "Must not contain a NUL character.",
        "blank": "Must not be blank.",
    }

    def __init__(self, *, trim=False, **kwargs):
        """trim: strip surrounding white space and refuse what is left empty."""
        super().__init__(**kwargs)
        self.trim = trim

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in value:
            raise self.make_error("nul")
        if self.trim:
            value = value.strip()
            if not value:
                raise self.make_error("blank")
        return value


class UTCTimestamp(fields.Field):
    """A server-set UTC datetime, written as ISO 8601 with its offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat(timespec="microseconds")


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


class RecordSchema(StampedSchema):
    """A record: any of timestamp, value1, value2, value3; null clears one."""

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

    @validates_schema
    def require_a_value(self, data, partial=False, **kwargs):
        """A whole record (POST, PUT) must have at least one non-null value."""
        if not partial and all(data.get(name) is None for name in self.load_fields):
            raise ValidationError(AT_LEAST_ONE_RECORD_FIELD)


class GameSchema(StampedSchema):
    """A game: every field required, strings trimmed and non-blank, year 1950 to 2100."""

    class Meta(BaseSchema.Meta):
        model = Game
        fields = (
            "id", "name", "platform", "publisher", "genre", "year",
            "creationdate", "lastmodificationdate", "lastmodifiedby",
        )  # fmt: skip

    name = ma.auto_field(trim=True)
    platform = ma.auto_field(trim=True)
    publisher = ma.auto_field(trim=True)
    genre = ma.auto_field(trim=True)
    year = ma.auto_field(validate=validate.Range(min=1950, max=2100))


class KeyRequestSchema(BaseSchema):
    """A request for a new API key."""

    class Meta(BaseSchema.Meta):
        model = AuthenticationKey
        fields = ("username",)

    username = ma.auto_field(
        validate=validate.Regexp(
            r"^[A-Za-z0-9_.-]{1,64}\Z",
            error="Use 1 to 64 letters, digits, '_', '.' or '-'.",
        )
    )


class KeySchema(BaseSchema):
    """An API key as shown to its owner once, at creation."""

    class Meta(BaseSchema.Meta):
        model = AuthenticationKey
        fields = ("username", "api_key", "created_on")

    username = fields.String(dump_only=True)
    api_key = fields.String(attribute="key", dump_only=True)
    created_on = UTCTimestamp(dump_only=True)


def dumper(schema):
    """A fast schema.dump for one item read from the database (an ORM object or a Row): the same dict.

    marshmallow spends some 9 us on an item, half a millisecond on a page of 50. The fields still come
    from the schema, the one place they are defined: values of the plain types pass as the database gave
    them, timestamps are formatted as UTCTimestamp does, and any other field serializes itself.
    """
    plan = []  # (output name, attribute, conversion or None), in the schema's order
    for name, field in schema.dump_fields.items():
        if type(field) in PASS_THROUGH:
            convert = None
        elif type(field) is UTCTimestamp:
            convert = iso_timestamp
        else:
            convert = partial(serialize_value, field, name)
        plan.append((name, field.attribute or name, convert))

    def dump(item):
        out = {}
        for name, attribute, convert in plan:
            value = getattr(item, attribute)
            out[name] = value if convert is None or value is None else convert(value)
        return out

    return dump


def row_dumper(schema, columns):
    """schema.dump for a Row of columns (names, in order; more may follow): the same dict, faster still.

    The row's values are zipped to the output names at C speed; only timestamps are then formatted.
    """
    fields_by_attribute = {
        field.attribute or name: (name, field) for name, field in schema.dump_fields.items()
    }
    missing = sorted(set(fields_by_attribute) - set(columns))
    if missing:
        raise ValueError(f"row_dumper: {schema} needs the columns {missing}")
    names, timestamps, others = [], [], []
    for column in columns:
        if column not in fields_by_attribute:
            break  # nothing after this column is dumped (zip stops here)
        name, field = fields_by_attribute[column]
        names.append(name)
        if type(field) is UTCTimestamp:
            timestamps.append(name)
        elif type(field) not in PASS_THROUGH:
            others.append((name, field))

    def dump(row):
        out = dict(zip(names, row, strict=False))
        for name in timestamps:
            value = out[name]
            if value is not None:
                out[name] = value.isoformat(timespec="microseconds")
        for name, field in others:
            if out[name] is not None:
                out[name] = serialize_value(field, name, out[name])
        return out

    return dump


def iso_timestamp(value):
    """ISO 8601 with microseconds and offset, as UTCTimestamp writes it."""
    return value.isoformat(timespec="microseconds")


def serialize_value(field, name, value):
    """A field's own serialization of a value (marshmallow's hook for custom fields)."""
    return field._serialize(value, name, None)


# Fields whose dump of a database value is that value (the driver gives the right Python type).
PASS_THROUGH = {fields.Integer, fields.String, JSONFloat, JSONInteger, JSONBoolean, Text}

record_schema = RecordSchema()
game_schema = GameSchema()
key_request_schema = KeyRequestSchema()
key_schema = KeySchema()
