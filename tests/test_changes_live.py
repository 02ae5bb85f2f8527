"""The changes feed over real gunicorn, with writers racing: a reader sees every committed change exactly once,
each item's versions in order, removals included; and the README's sync script keeps an exact copy
through being killed and restarted. On SQLite and PostgreSQL."""

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.servers import Gunicorn
from phoenix.extensions import db
from phoenix.models import Change
from tests import live

README = Path(__file__).resolve().parent.parent / "README.md"
WRITE_SECONDS = 8
WRITERS = 3
GAME = {"name": "Doom", "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}


def call(base, method, path, key=None, body=None):
    """(status, JSON body) of one request; a long poll may take its whole wait."""
    return live.call(base, method, path, key, body, timeout=60)


@pytest.fixture
def server(app, db_url, tmp_path):
    """Phoenix under gunicorn (4 sync workers) on the test's empty database, rate limits off."""
    env = {
        "DATABASE_URL": db_url,
        "PHOENIX_CONFIG": "production",
        "PHOENIX_RATELIMIT_ENABLED": "0",
        "WEB_CONCURRENCY": "4",
    }
    with Gunicorn("wsgi:app", env=env, log_path=tmp_path / "gunicorn.log") as gunicorn:
        yield gunicorn.url


def new_key(base, username):
    status, body = call(base, "POST", "/api/keys", body={"username": username})
    assert status == 201, body
    return body["api_key"]


class Writers:
    """Threads that create, change and remove records and games for a while, several of them changing
    the same few hot items at once (so that their writes queue on the items' row locks)."""

    def __init__(self, base, keys, seconds):
        self.base, self.keys, self.seconds = base, keys, seconds
        self.hot = []
        for plural, body in (("records", {"value1": "hot"}), ("records", {"value2": 1.5}), ("games", GAME)):
            status, answer = call(base, "POST", f"/api/{plural}", keys[0], body)
            assert status == 201, answer
            self.hot.append((plural, answer[plural[:-1]]["id"]))
        self.done = {"created": 0, "modified": 0, "removed": 0}
        self.failures = []
        self.lock = threading.Lock()

    def write(self, number):
        rng = random.Random(number)
        key = self.keys[number % len(self.keys)]
        own = []
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.35 or not own:
                plural = rng.choice(("records", "games"))
                body = {"value1": f"w{number}", "value3": rng.random() < 0.5} if plural == "records" else GAME
                status, answer = call(self.base, "POST", f"/api/{plural}", key, body)
                action = "created"
                if status == 201:
                    own.append((plural, answer[plural[:-1]]["id"]))
            elif roll < 0.7:
                plural, item_id = rng.choice(self.hot) if roll < 0.55 else rng.choice(own)
                change = (
                    {"value2": rng.random()} if plural == "records" else {"year": rng.randint(1950, 2100)}
                )
                status, answer = call(self.base, "PATCH", f"/api/{plural}/{item_id}", key, change)
                action = "modified"
            else:
                plural, item_id = own.pop(rng.randrange(len(own)))
                status, answer = call(self.base, "DELETE", f"/api/{plural}/{item_id}", key)
                action = "removed"
            with self.lock:
                if status in (200, 201):
                    self.done[action] += 1
                else:
                    self.failures.append((status, answer))

    def run(self):
        threads = [threading.Thread(target=self.write, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        return threads


def stored_entries(app):
    """Every history entry in the database, as the feed would tell it."""
    with app.app_context():
        rows = db.session.execute(sa.select(Change).order_by(Change.id)).scalars().all()
        return {
            (r.collection, r.item_id, r.version, r.action, r.via, json.dumps(r.changes, sort_keys=True))
            for r in rows
        }


def as_stored(entry):
    return (
        entry["collection"],
        entry["item_id"],
        entry["version"],
        entry["action"],
        entry["via"],
        json.dumps(entry["changes"], sort_keys=True),
    )


def test_a_reader_sees_every_change_exactly_once_and_in_order_while_writers_race(server, app):
    keys = [new_key(server, "alice"), new_key(server, "bob")]
    writers = Writers(server, keys, WRITE_SECONDS)
    seen = []
    stop = threading.Event()

    def read():
        since = ""
        while not stop.is_set():
            status, body = call(server, "GET", f"/api/changes?limit=100&wait=1{since}")
            assert status == 200, body
            seen.extend(body["changes"])
            since = f"&since={body['next_cursor']}"
        reader_state["since"] = since

    reader_state = {}
    reader = threading.Thread(target=read)
    reader.start()
    for thread in writers.run():
        thread.join()
    expected = stored_entries(app)
    # The reader goes on until it has caught up with everything committed (bounded).
    deadline = time.monotonic() + 60
    while len(seen) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    reader.join()
    status, tail = call(server, "GET", f"/api/changes?limit=100{reader_state['since']}")
    assert status == 200, tail
    assert tail["changes"] == []

    assert writers.failures == []
    assert sum(writers.done.values()) >= 100, writers.done  # enough racing to mean something
    assert writers.done["removed"] > 0 and writers.done["modified"] > 0
    told = [as_stored(entry) for entry in seen]
    assert len(told) == len(set(told)), "a change was told twice"
    assert set(told) == expected
    versions = defaultdict(list)
    for entry in seen:
        versions[(entry["collection"], entry["item_id"])].append(entry["version"])
    for item, order in versions.items():
        assert order == list(range(order[0], order[0] + len(order))), (item, order)
        assert order[0] == 1, (item, order)
    # The hot items were changed by several writers at once, and still came out in order.
    assert all(len(versions[item]) > 10 for item in writers.hot), {
        item: len(versions[item]) for item in writers.hot
    }
    removed = {(e["collection"], e["item_id"]) for e in seen if e["action"] == "removed"}
    assert len(removed) == writers.done["removed"]


def readme_sync_script():
    """The Python block of the README's "Keeping a copy in sync" section, as it stands."""
    text = README.read_text()
    section = text.split("### Keeping a copy in sync", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def everything(base):
    """{(collection, id): item} of both collections, read through the lists."""
    items = {}
    for plural in ("records", "games"):
        url = f"/api/{plural}?limit=500"
        while url:
            status, body = call(base, "GET", url)
            assert status == 200, body
            items.update({(plural, item["id"]): item for item in body[plural]})
            url = body["links"]["next"]
    return items


def copied(path):
    with sqlite3.connect(path) as copy:
        return {
            (c, i): json.loads(item) for c, i, item in copy.execute("SELECT collection, id, item FROM items")
        }


def test_the_readme_sync_script_keeps_an_exact_copy_through_a_kill_and_a_restart(server, app, tmp_path):
    script = tmp_path / "sync.py"
    script.write_text(readme_sync_script())
    copy = tmp_path / "copy.sqlite3"
    keys = [new_key(server, "carol")]
    writers = Writers(server, keys, 3)
    follower = subprocess.Popen([sys.executable, str(script), server, str(copy)], stderr=subprocess.PIPE)
    try:
        for thread in writers.run():
            thread.join()
        time.sleep(1.5)
        assert follower.poll() is None, follower.stderr.read()
    finally:
        os.kill(follower.pid, signal.SIGKILL)  # no chance to tidy up
        follower.wait()
        follower.stderr.close()
    with sqlite3.connect(copy) as stopped:
        assert stopped.execute("SELECT cursor FROM position").fetchone()[0]
        assert stopped.execute("SELECT count(*) FROM items").fetchone()[0] > 0

    # While it is stopped: more changes, and the removal of an item it holds.
    plural, item_id = writers.hot[0]
    assert (plural, item_id) in copied(copy)
    assert call(server, "DELETE", f"/api/{plural}/{item_id}", keys[0])[0] == 200
    more = Writers(server, keys, 2)
    for thread in more.run():
        thread.join()
    assert writers.failures == more.failures == []

    finished = subprocess.run(
        [sys.executable, str(script), server, str(copy), "--once"], capture_output=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    assert copied(copy) == everything(server)
