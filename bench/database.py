"""The benchmark's own PostgreSQL database: made afresh, migrated and seeded with the real code.

The rows are `flask seed`'s fakes (phoenix.fakes, loaded by phoenix.bulk as the command does), with words
planted in game names and record value1 at the frequencies that the search cases measure (SEARCH_WORDS):
a substring search costs what it costs because of how many rows match, so each frequency gets a word.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.servers import ROOT

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/phoenix_bench"
FLASK = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi"]


def bench_url():
    """BENCH_DATABASE_URL, checked to name a database of its own: it is dropped and made again."""
    url = make_url(os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL)
    if url.get_backend_name() != "postgresql" or "bench" not in (url.database or ""):
        raise SystemExit(f"BENCH_DATABASE_URL must be a PostgreSQL database named *bench*, not {url!r}.")
    return url.render_as_string(hide_password=False)


def sized(url, rows):
    """The URL of the database for one size: phoenix_bench_1000, phoenix_bench_1000000."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{rows}").render_as_string(hide_password=False)


def server_engine(url):
    """An engine on the server's maintenance database, for CREATE and DROP DATABASE."""
    admin = make_url(url).set(drivername="postgresql+psycopg2", database="postgres")
    return sa.create_engine(admin, isolation_level="AUTOCOMMIT")


def recreate(url):
    """Drop the benchmark database if it is there, make it empty, and migrate it (flask db upgrade)."""
    name = make_url(url).database
    engine = server_engine(url)
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    flask(url, "db", "upgrade")


def drop(url):
    """Drop the benchmark database."""
    engine = server_engine(url)
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def flask(url, *args):
    """Run a flask command against the benchmark database; its output is shown as it goes."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    subprocess.run([*FLASK, *args], cwd=ROOT, env=env, check=True)


def reusable(url, rows):
    """Whether an earlier run's database can serve again (BENCH_KEEP_DATABASE): seeded with rows records
    and games, and more records only from that run's creates, which are removed with their history."""
    try:
        if count(url, "game") != rows or count(url, "record") < rows:
            return False
    except sa.exc.SQLAlchemyError:
        return False
    flask(url, "db", "upgrade")  # an earlier build's database gets this build's migrations
    engine = sa.create_engine(
        make_url(url).set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.execute(sa.text("DELETE FROM record WHERE id > :rows"), {"rows": rows})
        connection.execute(
            sa.text("DELETE FROM history WHERE collection = 'records' AND item_id > :rows"), {"rows": rows}
        )
        connection.execute(sa.text("VACUUM ANALYZE record, history"))
    engine.dispose()
    return count(url, "record") == rows


def count(url, table):
    engine = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg2"))
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return rows


# Words planted in the searched text (games' name, records' value1) and which rows get them: the n-th
# row of a table, from 0. None of them is in the fakes' vocabulary, so each matches only where planted.
SEARCH_WORDS = {
    "quixotic": lambda n, rows: n == rows // 2,  # one row, at 1,000 rows as at a million
    "platinum": lambda n, rows: n % 143 == 0,  # 0.7%
    "classic": lambda n, rows: n % 8 == 0,  # 12.5%
    "collection": lambda n, rows: True,  # every row
}
# The words whose page Phoenix finds through the trigram index, not in a window of rows in order.
RARE_WORDS = ("quixotic",)


def planted(rows, column, total):
    """rows (tuples) with SEARCH_WORDS added to the text at position column, as their rules say."""
    for n, row in enumerate(rows):
        words = [word.title() for word, chosen in SEARCH_WORDS.items() if chosen(n, total)]
        text = " ".join([row[column], *words] if row[column] else words)
        yield (*row[:column], text, *row[column + 1 :])


def seed(url, rows):
    """Load rows fake records and games, with the search words planted, as flask seed loads them."""
    from phoenix import create_app
    from phoenix.bulk import insert_rows
    from phoenix.extensions import db
    from phoenix.fakes import GAME_COLUMNS, RECORD_COLUMNS, fake_games, fake_records
    from phoenix.models import Game, Record

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        for model, columns, fakes, text_column in (
            (Record, RECORD_COLUMNS, fake_records, "value1"),
            (Game, GAME_COLUMNS, fake_games, "name"),
        ):
            made = planted(fakes(rows, username="bench", seed=rows), columns.index(text_column), rows)
            started = time.perf_counter()
            insert_rows(model, columns, made, expected=rows)  # with their created history entries
            db.session.commit()
            print(f"bench: seeded {rows:,} {model.__tablename__}s in {time.perf_counter() - started:.0f} s")


def grow_to(url, rows):
    """Seed records and games with rows each (when empty), then vacuum so that reads see settled tables."""
    if count(url, "record") == 0 and count(url, "game") == 0:
        seed(url, rows)
    bench = make_url(url).set(drivername="postgresql+psycopg2")
    engine = sa.create_engine(bench, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("VACUUM ANALYZE record, game, history"))
    engine.dispose()


def warm(url):
    """Read the database's tables and indexes into the operating system's cache (pg_prewarm's "read"), and
    say how much: a run then measures a server whose data is in memory, as a production server's working
    set is, rather than a disk. On a machine that has just seeded or restarted, a million rows' database
    (2.7 GB) was mostly out of the cache, and the reads of records at random waited on the disk (iowait a
    third of the CPU): GET by id measured 0.82 of the limit, its rounds 0.75 to 0.94."""
    engine = sa.create_engine(
        make_url(url).set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
            blocks = connection.execute(sa.text(
                "SELECT sum(pg_prewarm(c.oid::regclass, 'read')) FROM pg_class c "
                "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i', 't')"
            )).scalar_one()  # fmt: skip
            block_size = int(connection.execute(sa.text("SHOW block_size")).scalar_one())
        print(
            f"bench: read {int(blocks or 0) * block_size / 1e6:,.0f} MB of {make_url(url).database} into the cache"
        )
    except sa.exc.DBAPIError as error:  # no pg_prewarm on this server (it ships with PostgreSQL's contrib)
        print(f"bench: could not warm {make_url(url).database} ({error.orig}); a cold cache adds disk reads")
    finally:
        engine.dispose()
