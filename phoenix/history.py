"""Item history: one entry per change, added in the same transaction as the change itself."""

from flask import g

from phoenix.extensions import db
from phoenix.listing import Listing
from phoenix.models import Change, utcnow

# An item's history pages like the lists do (by id, which follows its versions), limit and cursor only.
HISTORY = Listing(name="history", model=Change, countable=False)


def history_of(collection, item_id):
    """The conditions that keep one item's entries."""
    return (Change.collection == collection.plural, Change.item_id == item_id)


def snapshot(collection, item):
    """The client-visible field values of item, to compare before and after a change."""
    return {name: getattr(item, name) for name in collection.schema.load_fields}


def record_change(collection, item, action, before, after, version):
    """Add the history entry for one change of item: the fields that differ, as [old, new] pairs."""
    changes = {
        name: [before.get(name), after.get(name)] for name in after if before.get(name) != after.get(name)
    }
    db.session.add(
        Change(
            collection=collection.plural,
            item_id=item.id,
            version=version,
            action=action,
            changed_by=g.api_key.username,
            changed_at=item.lastmodificationdate if action != "removed" else utcnow(),
            changes=changes,
        )
    )


def record_removal(collection, item):
    """Add the history entry for the removal of item: every field goes from its value to null."""
    before = snapshot(collection, item)
    record_change(collection, item, "removed", before, dict.fromkeys(before), item.version + 1)
