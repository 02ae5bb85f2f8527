"""flask commands: `flask seed records|games N` and `flask games import FILE.csv --as USERNAME`.

Each group is registered by a function of its own, so that more groups join without touching these.
"""

import os
import time

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from phoenix.bulk import insert_rows
from phoenix.fakes import GAME_COLUMNS, RECORD_COLUMNS, fake_games, fake_records
from phoenix.gamescsv import CountingReader, CSVLayoutError, ImportReport, read_games
from phoenix.models import Game, Record, utcnow
from phoenix.schemas import key_request_schema


def register_commands(app):
    """Add every command group to app.cli."""
    register_seed_commands(app)
    register_games_commands(app)


def username_option(default=None):
    """--as USERNAME: who the rows are stamped as (lastmodifiedby), checked like a key's username."""

    def check(ctx, param, value):
        try:
            return key_request_schema.load({"username": value})["username"]
        except ValidationError as error:
            raise click.BadParameter(" ".join(error.messages["username"])) from None

    # No default at all (not even None) makes the option required.
    given = {"default": default, "show_default": True} if default else {"required": True}
    return click.option(
        "--as",
        "username",
        callback=check,
        metavar="USERNAME",
        help="The username to stamp as lastmodifiedby.",
        **given,
    )


def load_with_progress(model, columns, rows, count, label):
    """Bulk-insert rows under a progress bar; say how many went in and how fast."""
    started = time.perf_counter()
    with click.progressbar(length=count, label=label, show_pos=True, show_eta=True) as bar:
        inserted = insert_rows(model, columns, rows, on_batch=bar.update, expected=count)
    elapsed = time.perf_counter() - started
    rate = inserted / elapsed if elapsed else 0
    click.echo(f"Inserted {inserted:,} {model.__tablename__}s in {elapsed:.1f} s ({rate:,.0f} rows/s).")
    return inserted


# --- flask seed ---------------------------------------------------------------------------------------


def register_seed_commands(app):
    """flask seed records N, flask seed games N: realistic fake rows, fast."""
    seed = AppGroup("seed", help="Fill a table with realistic fake rows (COPY on PostgreSQL).")

    def seed_command(name, model, columns, generate):
        @seed.command(name, help=f"Insert COUNT fake {name}.")
        @click.argument("count", type=click.IntRange(min=1))
        @username_option(default="seed")
        @click.option("--seed", "random_seed", type=int, default=None, help="Make the same rows every time.")
        def command(count, username, random_seed):
            rows = generate(count, username=username, seed=random_seed)
            load_with_progress(model, columns, rows, count, f"Seeding {name}")

        return command

    seed_command("records", Record, RECORD_COLUMNS, fake_records)
    seed_command("games", Game, GAME_COLUMNS, fake_games)
    app.cli.add_command(seed)


# --- flask games --------------------------------------------------------------------------------------


def register_games_commands(app):
    """flask games import FILE.csv --as USERNAME."""
    games = AppGroup("games", help="Manage the games catalogue.")

    @games.command("import")
    @click.argument("path", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False))
    @username_option()
    @click.option("--encoding", default="utf-8-sig", show_default=True, help="The file's text encoding.")
    def import_games(path, username, encoding):
        """Load games from a CSV in the video-game-sales layout (Name, Platform, Year, Genre, Publisher).

        Rows that fail the games schema are skipped and reported, with their reasons, at the end.
        """
        report = ImportReport()
        now = utcnow()
        started = time.perf_counter()
        with open(path, "rb") as raw:
            counted = CountingReader(raw)
            size = os.path.getsize(path)
            with click.progressbar(length=size, label="Importing games", show_percent=True) as bar:

                def advance(_):
                    bar.update(counted.position - bar.pos)

                stamp = {"creationdate": now, "lastmodificationdate": now, "lastmodifiedby": username}
                try:
                    games = read_games(counted, report, encoding)
                    rows = (tuple(game[c] if c in game else stamp[c] for c in GAME_COLUMNS) for game in games)
                    insert_rows(Game, GAME_COLUMNS, rows, on_batch=advance, batch_size=5_000)
                except CSVLayoutError as error:
                    raise click.ClickException(str(error)) from None
                bar.update(size - bar.pos)
        elapsed = time.perf_counter() - started
        click.echo(f"Imported {report.imported:,} games in {elapsed:.1f} s; skipped {report.skipped:,} rows.")
        if report.skipped:
            click.echo("Skipped rows, by reason (a row may have several):")
            for reason, rows_count in report.reasons.most_common():
                lines = ", ".join(str(line) for line in report.examples[reason])
                more = ", ..." if rows_count > len(report.examples[reason]) else ""
                click.echo(f"  {reason} ({rows_count:,} rows: line {lines}{more})")

    app.cli.add_command(games)
