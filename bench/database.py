"""The benchmark's own PostgreSQL database: made afresh, migrated and seeded with the real commands."""

import os
import subprocess
import sys
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


def count(url, table):
    engine = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg2"))
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return rows


def grow_to(url, rows):
    """Seed records and games up to rows each (flask seed, which writes their created history entries: the
    changes feed's), then vacuum so that reads see settled tables."""
    for table in ("records", "games"):
        missing = rows - count(url, table.rstrip("s"))
        if missing > 0:
            flask(url, "seed", table, str(missing), "--as", "bench", "--seed", str(rows))
    bench = make_url(url).set(drivername="postgresql+psycopg2")
    engine = sa.create_engine(bench, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("VACUUM ANALYZE record, game, history"))
    engine.dispose()
