"""Commands for operators, under `flask --app wsgi ...`."""

import click
from flask.cli import AppGroup
from marshmallow import ValidationError
from sqlalchemy import func, select

from phoenix.auth import issue_key, revoke_key, rotate_key
from phoenix.errors import ApiError
from phoenix.extensions import db
from phoenix.models import CURRENT_KEY, AuthenticationKey, utcnow
from phoenix.schemas import key_request_schema, key_rotation_schema, key_schema

LIFETIME_HELP = "Days the key lives (default: PHOENIX_KEY_MAX_AGE_DAYS, else forever)."


def register_commands(app):
    """Add Phoenix's command groups to the app's `flask` command."""
    register_key_commands(app)


def checked(schema, data):
    """data checked by the same schema as the API's (options left out are not sent); a usage error if not."""
    try:
        return schema.load({name: value for name, value in data.items() if value is not None})
    except ValidationError as error:
        problems = [f"{name}: {' '.join(map(str, messages))}" for name, messages in error.messages.items()]
        raise click.UsageError("; ".join(problems)) from None


def current_key(username):
    """The current key row of username (whatever its case), or a ClickException."""
    same_name = func.lower(AuthenticationKey.username) == username.lower()
    row = db.session.execute(select(AuthenticationKey).where(same_name, CURRENT_KEY)).scalar_one_or_none()
    if row is None:
        raise click.ClickException(f"No key has the username {username!r}.")
    return row


def show_new_key(row, key, what):
    """The new key alone on stdout (KEY=$(flask keys create NAME) works); the details on stderr."""
    details = key_schema.dump(row)
    expires = details["expires_at"] or "never"
    click.echo(f"{what} for {row.username}: prefix {row.prefix}, expires {expires}.", err=True)
    click.echo("It is shown this once:", err=True)
    click.echo(key)


def register_key_commands(app):
    """flask keys create|rotate|revoke|list: key management that works whether registration is open or not."""
    keys = AppGroup("keys", help="Manage API keys (works whatever PHOENIX_OPEN_REGISTRATION says).")

    @keys.command("create")
    @click.argument("username")
    @click.option("--expires-in-days", type=int, help=LIFETIME_HELP)
    def create(username, expires_in_days):
        """Create a key for USERNAME and print it."""
        values = checked(key_request_schema, {"username": username, "expires_in_days": expires_in_days})
        try:
            row, key = issue_key(values["username"], values.get("expires_in_days"))
        except ApiError as error:
            raise click.ClickException(error.message) from None
        show_new_key(row, key, "Created a key")

    @keys.command("rotate")
    @click.argument("username")
    @click.option("--expires-in-days", type=int, help=LIFETIME_HELP)
    def rotate(username, expires_in_days):
        """Replace USERNAME's key with a new one and print it, even a revoked or expired key."""
        values = checked(key_rotation_schema, {"expires_in_days": expires_in_days})
        row, key = rotate_key(current_key(username), values.get("expires_in_days"), any_state=True)
        show_new_key(row, key, "Rotated the key")

    @keys.command("revoke")
    @click.argument("username")
    def revoke(username):
        """Revoke USERNAME's key: it stops working at once; the username stays taken."""
        row = current_key(username)
        if row.revoked_at is not None:
            click.echo(f"The key of {row.username} was already revoked on {row.revoked_at.isoformat()}.")
            return
        revoke_key(row)
        click.echo(f"Revoked the key of {row.username} (prefix {row.prefix}).")

    @keys.command("list")
    def list_keys():
        """List every key, past ones included: username, prefix, state and dates. Never a secret."""
        rows = db.session.execute(
            select(AuthenticationKey).order_by(func.lower(AuthenticationKey.username), AuthenticationKey.id)
        ).scalars()
        now = utcnow()
        columns = ("username", "prefix", "state", "created_on", "last_used_at", "expires_at")
        click.echo("\t".join(columns))
        for row in rows:
            dumped = key_schema.dump(row)
            values = [row.username, row.prefix, row.state(now)]
            values += [dumped[name] or "-" for name in ("created_on", "last_used_at", "expires_at")]
            click.echo("\t".join(values))

    app.cli.add_command(keys)
