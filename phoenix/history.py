"""Item history: one entry per change, written in the same transaction as the change itself."""

from flask import g
from sqlalchemy import insert, text

from phoenix.database import Prepared
from phoenix.listing import Listing
from phoenix.models import Change, utcnow
from phoenix.schemas import game_schema, record_schema

# An item's history pages like the lists do (by id, which follows its versions), limit and cursor only.
HISTORY = Listing(name="history", model=Change, countable=False)
# inline: no id RETURNING for the entries (PostgreSQL's implicit returning): nothing reads them back.
INSERT_ENTRIES = Prepared(insert(Change.__table__).inline(), later=True)


def history_of(collection, item_id):
    """The conditions that keep one item's entries."""
    return (Change.collection == collection.plural, Change.item_id == item_id)


def snapshot(collection, item):
    """The client-visible field values of item (an ORM object or a Row), to compare before and after."""
    return {name: getattr(item, name) for name in collection.schema.load_fields}


def entry(collection, item, action, before, after, version, changed_at):
    """The history entry of one change of item: the fields that differ, as [old, new] pairs."""
    key = g.api_key
    return {
        "collection": collection.plural,
        "item_id": item.id,
        "version": version,
        "action": action,
        "changed_by": key.username,
        "via": key.prefix,
        "changed_at": changed_at,
        "changes": {
            name: [before.get(name), after.get(name)] for name in after if before.get(name) != after.get(name)
        },
    }


def record_changes(entries):
    """Write history entries, on the connection (and in the transaction) of the change they tell of."""
    INSERT_ENTRIES.rows(entries)


def record_creations(collection, items):
    """The entries of items just created (Rows): each field given a value, from null to it."""
    record_changes(
        [
            entry(collection, item, "created", {}, snapshot(collection, item), 1, item.creationdate)
            for item in items
        ]
    )


def record_change(collection, item, before):
    """The entry of item's change (an ORM object just flushed at its new version) from the values before."""
    after = snapshot(collection, item)
    record_changes(
        [entry(collection, item, "modified", before, after, item.version, item.lastmodificationdate)]
    )


def record_removal(collection, item):
    """The entry of the removal of item: every field goes from its value to null."""
    before = snapshot(collection, item)
    record_changes(
        [entry(collection, item, "removed", before, dict.fromkeys(before), item.version + 1, utcnow())]
    )


# --- rows loaded in bulk (flask seed, flask games import) ---------------------------------------------

# What a created entry lists for each table's rows: the collection, and the schema's writable fields.
LOADED = {"record": ("records", record_schema), "game": ("games", game_schema)}


def created_changes_sql(dialect, table):
    """SQL, over the table's columns, for a created entry's changes: {field: [null, value]} for each field
    that has a value (as record_creations writes them); booleans as JSON true and false on SQLite too."""
    fields = LOADED[table.name][1].load_fields
    if dialect == "postgresql":
        pairs = ", ".join(f"'{name}', {name}" for name in fields)
        return (
            "(SELECT coalesce(jsonb_object_agg(key, jsonb_build_array(NULL, value)), '{}'::jsonb)"
            f" FROM jsonb_each(jsonb_strip_nulls(jsonb_build_object({pairs}))))"
        )
    booleans = {column.name for column in table.columns if column.type.python_type is bool}
    pairs = ", ".join(
        f"'{name}', CASE {name} WHEN 1 THEN json('true') WHEN 0 THEN json('false') END"
        if name in booleans
        else f"'{name}', {name}"
        for name in fields
    )
    value = "CASE type WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') ELSE value END"
    return (
        f"(SELECT coalesce(json_group_object(key, json_array(NULL, {value})), '{{}}')"
        f" FROM json_each(json_object({pairs})) WHERE type != 'null')"
    )


def record_loaded_creations(connection, table, above_id):
    """Write the created entries of the rows that this transaction loaded into table (ids above above_id),
    in this transaction: one INSERT ... SELECT, so that a COPY of a million rows gets its million entries
    without a row passing through Python. via is null: an operator's command, not a key.

    On PostgreSQL the rows are told apart from concurrent writers' by their xmin (this transaction's id);
    on SQLite no other writer can run until this one commits.
    """
    dialect = connection.dialect.name
    ours = " AND t.xmin = pg_current_xact_id()::xid" if dialect == "postgresql" else ""
    statement = text(
        "INSERT INTO history (collection, item_id, version, action, changed_by, changed_at, changes)"
        " SELECT :collection, t.id, t.version, 'created', t.lastmodifiedby, t.creationdate,"
        f" {created_changes_sql(dialect, table)} FROM {table.name} AS t"
        f" WHERE t.id > :above_id{ours} ORDER BY t.id"
    )
    connection.execute(statement, {"collection": LOADED[table.name][0], "above_id": above_id})
