"""Row locks: a write locks its item's row (SELECT ... FOR UPDATE) from its read to its commit.

Only PostgreSQL can test these: SQLite serialises every write request (BEGIN IMMEDIATE), so the lock's
absence would change nothing there. Hence postgresql_only; .ci/run fails a run in which the PostgreSQL
half did not run. Each race is made certain rather than likely: the first writer pauses once it holds
the item (the lock, if taken), and the second starts only then.
"""

import threading
import time

import pytest

import phoenix.resources.base
import phoenix.resources.legacy
from phoenix.models import Change, Record
from phoenix.resources.records import RECORD_NOT_FOUND

pytestmark = pytest.mark.postgresql_only
PAUSE_SECONDS = 1.0


def pause_first_call(module, name):
    """Wrap module.name so that its first call signals `holding` and then sleeps; return holding."""
    original = getattr(module, name)
    holding = threading.Event()

    def paused(*args, **kwargs):
        if not holding.is_set():
            holding.set()
            time.sleep(PAUSE_SECONDS)  # the second writer's read happens now
        return original(*args, **kwargs)

    return paused, holding


def race(app, holding, first, second):
    """Run first in a thread until it holds the item, then second alongside; both answers' statuses."""
    answers = {}

    def run(name, send):
        with app.test_client() as client:
            answers[name] = send(client)

    threads = [threading.Thread(target=run, args=("first", first))]
    threads[0].start()
    assert holding.wait(timeout=30), "the first writer never reached the item"
    threads.append(threading.Thread(target=run, args=("second", second)))
    threads[1].start()
    for thread in threads:
        thread.join(timeout=60)
    return answers["first"], answers["second"]


def test_two_deletes_of_one_item_are_one_200_and_one_404(app, client, auth, rows, monkeypatch):
    """Without DELETE's row lock, the second would read the item before the first removed it, and fail
    (409) on the row gone from under it, with a second "removed" entry attempted."""
    client.post("/api/records", json={"value1": "x"}, headers=auth)
    paused, holding = pause_first_call(phoenix.resources.base, "require_current_version")
    monkeypatch.setattr(phoenix.resources.base, "require_current_version", paused)

    def delete(c):
        return c.delete("/api/records/1", headers=auth)

    first, second = race(app, holding, delete, delete)
    assert (first.status_code, second.status_code) == (200, 404)
    assert second.json == {
        "status": "failed",
        "message": RECORD_NOT_FOUND,
        "code": "not_found",
        "request_id": second.headers["X-Request-ID"],
    }
    assert rows(Record) == []
    assert [c.action for c in rows(Change)] == ["created", "removed"]


def test_two_legacy_modifies_of_one_record_both_apply_in_turn(app, client, auth, rows, monkeypatch):
    """Without /api/modify's row lock, the second would read version 1 while the first held it, and its
    UPDATE (checked against version 1) would fail with 409 after the first committed version 2."""
    client.post("/api/records", json={"value1": "x", "value2": 0}, headers=auth)
    paused, holding = pause_first_call(phoenix.resources.legacy, "apply_changes")
    monkeypatch.setattr(phoenix.resources.legacy, "apply_changes", paused)

    first, second = race(
        app,
        holding,
        lambda c: c.patch("/api/modify/1", json={"value1": "first"}, headers=auth),
        lambda c: c.patch("/api/modify/1", json={"value2": 2}, headers=auth),
    )
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json["record_info"] == {**second.json["record_info"], "value1": "first", "value2": 2}
    [stored] = rows(Record)
    assert (stored.value1, stored.value2, stored.version) == ("first", 2, 3)
    assert [(c.action, c.version) for c in rows(Change)] == [("created", 1), ("modified", 2), ("modified", 3)]
