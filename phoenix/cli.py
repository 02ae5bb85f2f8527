"""flask commands for operators: `flask keys ...`, `flask seed records|games N`, `flask games import FILE.csv`.

Each group is registered by a function of its own, so that more groups join without touching the others.
"""

import os
import time

import click
from flask.cli import AppGroup
from marshmallow import ValidationError
from sqlalchemy import func, select

from phoenix.auth import add_key, issue_key, revoke_key, revoke_username, rotate_key, username_taken
from phoenix.bulk import analyze, insert_rows
from phoenix.errors import ApiError
from phoenix.extensions import db
from phoenix.fakes import GAME_COLUMNS, RECORD_COLUMNS, fake_games, fake_records
from phoenix.gamescsv import CountingReader, CSVLayoutError, ImportReport, read_games
from phoenix.housekeeping import register_housekeeping_command
from phoenix.models import CURRENT_KEY, AuthenticationKey, Game, Record, ReservedUsername, utcnow
from phoenix.permissions import DEFAULT_SCOPES, SCOPES
from phoenix.resources.keys import KEY_PREFIX
from phoenix.schemas import account_key_request_schema, key_request_schema, key_rotation_schema, key_schema

LIFETIME_HELP = "Days the key lives (default: PHOENIX_KEY_MAX_AGE_DAYS, else forever)."


def register_commands(app):
    """Add Phoenix's command groups to the app's `flask` command."""
    register_key_commands(app)
    register_seed_commands(app)
    register_games_commands(app)
    register_housekeeping_command(app)


def options_loaded(schema, data):
    """data checked by the same schema as the API's (options left out are not sent); a usage error if not."""
    try:
        return schema.load({name: value for name, value in data.items() if value is not None})
    except ValidationError as error:
        problems = [f"{name}: {' '.join(map(str, messages))}" for name, messages in error.messages.items()]
        raise click.UsageError("; ".join(problems)) from None


def current_key(username, name="default"):
    """username's current key called name (whatever the username's case), the working one first; or a
    ClickException."""
    same_name = func.lower(AuthenticationKey.username) == username.lower()
    row = (
        db.session.execute(
            select(AuthenticationKey)
            .where(same_name, AuthenticationKey.name == name, CURRENT_KEY)
            .order_by(AuthenticationKey.revoked_at.is_not(None), AuthenticationKey.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    if row is None:
        if name == "default" or not username_taken(username):
            raise click.ClickException(f"No key has the username {username!r}.")
        raise click.ClickException(f"{username} has no key named {name!r}.")
    return row


def key_by_prefix(prefix):
    """The key row with that prefix, or a ClickException."""
    row = db.session.execute(
        select(AuthenticationKey).where(AuthenticationKey.prefix == prefix)
    ).scalar_one_or_none()
    if row is None:
        raise click.ClickException(f"No key has the prefix {prefix!r}.")
    return row


def target_key(target, name):
    """The key a command means: by its prefix (phx_... or legacy_...), else USERNAME's key called name."""
    return key_by_prefix(target) if KEY_PREFIX.fullmatch(target) else current_key(target, name)


def parse_scopes(value):
    """--scopes: scope names separated by commas or spaces; a usage error for any unknown one."""
    if value is None:
        return DEFAULT_SCOPES
    scopes = value.replace(",", " ").split()
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise click.BadParameter(f"Use some of {', '.join(SCOPES)}.", param_hint="--scopes")
    return scopes


def show_new_key(row, key, what):
    """The new key alone on stdout (KEY=$(flask keys create NAME) works); the details on stderr."""
    details = key_schema.dump(row)
    expires = details["expires_at"] or "never"
    scopes = " ".join(details["scopes"])
    click.echo(
        f"{what} for {row.username}: prefix {row.prefix}, expires {expires}, name {row.name!r}, "
        f"scopes {scopes}.",
        err=True,
    )
    click.echo("It is shown this once:", err=True)
    click.echo(key)


def register_key_commands(app):
    """flask keys create|rotate|revoke|list: key management that works whether registration is open or not."""
    keys = AppGroup("keys", help="Manage API keys (works whatever PHOENIX_OPEN_REGISTRATION says).")

    @keys.command("create")
    @click.argument("username")
    @click.option(
        "--name", help="The key's name (default: default). Given for a taken USERNAME: one more key."
    )
    @click.option("--scopes", help=f"Comma-separated, of {', '.join(SCOPES)} (default: all but moderate).")
    @click.option("--expires-in-days", type=int, help=LIFETIME_HELP)
    def create(username, name, scopes, expires_in_days):
        """Create a key for USERNAME and print it: its first, or (with --name) one more."""
        values = options_loaded(
            key_request_schema, {"username": username, "expires_in_days": expires_in_days}
        )
        if name is not None:
            options_loaded(account_key_request_schema, {"name": name})
        scopes = parse_scopes(scopes)
        existing = db.session.execute(
            select(AuthenticationKey.username)
            .where(func.lower(AuthenticationKey.username) == username.lower(), AuthenticationKey.founding)
            .limit(1)
        ).scalar()
        try:
            if existing is not None and name is not None:
                row, key = add_key(existing, name, scopes, values.get("expires_in_days"))
            else:
                row, key = issue_key(
                    values["username"], values.get("expires_in_days"), name=name or "default", scopes=scopes
                )
        except ApiError as error:
            raise click.ClickException(error.message) from None
        db.session.commit()
        show_new_key(row, key, "Created a key")

    @keys.command("rotate")
    @click.argument("target", metavar="USERNAME|PREFIX")
    @click.option("--name", default="default", show_default=True, help="Which of USERNAME's keys.")
    @click.option("--expires-in-days", type=int, help=LIFETIME_HELP)
    @click.option("--grace-seconds", type=int, help="How long the old key goes on working (default: 0).")
    def rotate(target, name, expires_in_days, grace_seconds):
        """Replace a key with a new one and print it, even a revoked or expired key."""
        values = options_loaded(
            key_rotation_schema, {"expires_in_days": expires_in_days, "grace_seconds": grace_seconds}
        )
        row = target_key(target, name)
        try:
            row, key = rotate_key(
                row, values.get("expires_in_days"), values.get("grace_seconds", 0), any_state=True
            )
        except ApiError as error:
            raise click.ClickException(error.message) from None
        db.session.commit()
        show_new_key(row, key, "Rotated the key")

    @keys.command("revoke")
    @click.argument("target", metavar="USERNAME|PREFIX")
    @click.option("--name", default="default", show_default=True, help="Which of USERNAME's keys.")
    @click.option("--all", "every", is_flag=True, help="Every key of USERNAME (a compromised account).")
    def revoke(target, name, every):
        """Revoke a key (and those rotated from it): it stops working at once; the username stays taken."""
        if every:
            if KEY_PREFIX.fullmatch(target) or not username_taken(target):
                raise click.ClickException(f"No key has the username {target!r}.")
            count = revoke_username(target)
            db.session.commit()
            click.echo(f"Revoked every key of {target} ({count} not revoked until now).")
            return
        row = target_key(target, name)
        if row.revoked_at is not None:
            click.echo(f"The key of {row.username} was already revoked on {row.revoked_at.isoformat()}.")
            return
        revoke_key(row)
        db.session.commit()
        click.echo(f"Revoked the key of {row.username} (prefix {row.prefix}).")

    @keys.command("list")
    @click.argument("username", required=False)
    def list_keys(username):
        """List every key (of USERNAME, if given), past ones included: username, prefix, state, dates,
        name and scopes. Never a secret."""
        query = select(AuthenticationKey).order_by(
            func.lower(AuthenticationKey.username), AuthenticationKey.id
        )
        if username is not None:
            query = query.where(func.lower(AuthenticationKey.username) == username.lower())
        rows = db.session.execute(query).scalars()
        now = utcnow()
        # New columns go at the end, so that scripts reading the first ones by position keep working.
        columns = (
            "username",
            "prefix",
            "state",
            "created_on",
            "last_used_at",
            "expires_at",
            "name",
            "scopes",
        )
        click.echo("\t".join(columns))
        for row in rows:
            dumped = key_schema.dump(row)
            values = [row.username, row.prefix, row.state(now)]
            values += [dumped[name] or "-" for name in ("created_on", "last_used_at", "expires_at")]
            values += [row.name, ",".join(dumped["scopes"])]
            click.echo("\t".join(values))

    app.cli.add_command(keys)


def username_option(default=None):
    """--as USERNAME: who the rows are stamped as (lastmodifiedby), checked like a key's username."""

    def check(ctx, param, value):
        try:
            username = key_request_schema.load({"username": value})["username"]
        except ValidationError as error:
            raise click.BadParameter(" ".join(error.messages["username"])) from None
        return username

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


def reserve_username(username):
    """Keep username from self-service for good: the operator's rows are stamped with it (committed at
    once, before the rows load, so that no one can register it meanwhile)."""
    name = username.lower()
    if db.session.get(ReservedUsername, name) is None:
        db.session.add(ReservedUsername(username=name, reserved_at=utcnow()))
        db.session.commit()


def load_with_progress(model, columns, rows, count, label):
    """Bulk-insert rows under a progress bar; say how many went in and how fast."""
    started = time.perf_counter()
    with click.progressbar(length=count, label=label, show_pos=True, show_eta=True) as bar:
        inserted = insert_rows(model, columns, rows, on_batch=bar.update, expected=count)
        db.session.commit()
    analyze(model)
    db.session.commit()
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
            reserve_username(username)
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
        reserve_username(username)
        report = ImportReport()
        now = utcnow()
        started = time.perf_counter()
        with open(path, "rb") as raw:
            counted = CountingReader(raw)
            size = os.path.getsize(path)
            with click.progressbar(length=size, label="Importing games", show_percent=True) as bar:

                def advance(_):
                    bar.update(counted.position - bar.pos)

                stamp = {
                    "creationdate": now,
                    "lastmodificationdate": now,
                    "lastmodifiedby": username,
                    "createdby": username,
                }
                try:
                    games = read_games(counted, report, encoding)
                    rows = (tuple(game[c] if c in game else stamp[c] for c in GAME_COLUMNS) for game in games)
                    insert_rows(Game, GAME_COLUMNS, rows, on_batch=advance, batch_size=5_000)
                    db.session.commit()
                except CSVLayoutError as error:
                    raise click.ClickException(str(error)) from None
                bar.update(size - bar.pos)
        analyze(Game)
        db.session.commit()
        elapsed = time.perf_counter() - started
        click.echo(f"Imported {report.imported:,} games in {elapsed:.1f} s; skipped {report.skipped:,} rows.")
        if report.skipped:
            click.echo("Skipped rows, by reason (a row may have several):")
            for reason, rows_count in report.reasons.most_common():
                lines = ", ".join(str(line) for line in report.examples[reason])
                more = ", ..." if rows_count > len(report.examples[reason]) else ""
                click.echo(f"  {reason} ({rows_count:,} rows: line {lines}{more})")

    app.cli.add_command(games)
