"""Item history: one entry per change, written in the same transaction as the change itself."""

from flask import g
from sqlalchemy import insert

from phoenix.database import connection
from phoenix.listing import Listing
from phoenix.models import Change, utcnow

# An item's history pages like the lists do (by id, which follows its versions), limit and cursor only.
HISTORY = Listing(name="history", model=Change, countable=False)
INSERT_ENTRIES = insert(Change.__table__)


def history_of(collection, item_id):
    """The conditions that keep one item's entries."""
    return (Change.collection == collection.plural, Change.item_id == item_id)


def snapshot(collection, item):
    """The client-visible field values of item (an ORM object or a Row), to compare before and after."""
    return {name: getattr(item, name) for name in collection.schema.load_fields}


def entry(collection, item, action, before, after, version, changed_at):
    """The history entry of one change of item: the fields that differ, as [old, new] pairs."""
    return {
        "collection": collection.plural,
        "item_id": item.id,
        "version": version,
        "action": action,
        "changed_by": g.api_key.username,
        "changed_at": changed_at,
        "changes": {
            name: [before.get(name), after.get(name)] for name in after if before.get(name) != after.get(name)
        },
    }


def record_changes(entries):
    """Write history entries, on the connection (and in the transaction) of the change they tell of."""
    connection().execute(INSERT_ENTRIES, entries)


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
