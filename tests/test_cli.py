"""The flask commands: keys (create, rotate, revoke, list), seed, and games import."""

import re

import pytest
import sqlalchemy as sa

from phoenix import bulk, create_app
from phoenix.auth import KEY_REPLACED, REVOKED_KEY_REFUSED
from phoenix.extensions import db
from phoenix.models import AuthenticationKey, Game, Record, utcnow
from phoenix.schemas import game_schema, record_schema
from tests.test_listing import newer_of_the_id_indexes

KEY = re.compile(r"phx_[0-9a-f]{16}_[0-9A-Za-z]{43}")
GAME_FIELDS = ("name", "platform", "publisher", "genre", "year")
RECORD_FIELDS = ("timestamp", "value1", "value2", "value3")


def create(runner, *args):
    """Run `flask keys create ...`; the key it printed."""
    result = runner.invoke(args=["keys", "create", *args])
    assert result.exit_code == 0, result.output
    assert KEY.fullmatch(result.stdout.strip()), result.stdout
    return result.stdout.strip()


def test_create_prints_the_key_alone_on_stdout_and_the_details_on_stderr(
    client, runner, rows, stored_anywhere
):
    result = runner.invoke(args=["keys", "create", "ops", "--expires-in-days", "30"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert KEY.fullmatch(key)
    [stored] = rows(AuthenticationKey)
    assert stored.username == "ops" and key.startswith(stored.prefix + "_")
    assert f"Created a key for ops: prefix {stored.prefix}, expires 20" in result.stderr
    assert stored.expires_at is not None
    assert stored_anywhere(key.rpartition("_")[2]) == []
    assert client.post("/api/records", json={"value1": "x"}, headers={"api-key": key}).status_code == 201


@pytest.mark.parametrize(
    ("args", "complaint"),
    [(["bad name"], "username: Use 1 to 64"), (["ops", "--expires-in-days", "0"], "expires_in_days")],
)
def test_create_refuses_what_the_api_refuses(runner, rows, args, complaint):
    result = runner.invoke(args=["keys", "create", *args])
    assert result.exit_code == 2
    assert complaint in result.output
    assert rows(AuthenticationKey) == []


def test_create_refuses_a_taken_username(runner, rows):
    create(runner, "ops")
    result = runner.invoke(args=["keys", "create", "OPS"])
    assert result.exit_code == 1
    assert "The username you are trying to register has been already used!" in result.output
    assert len(rows(AuthenticationKey)) == 1


def test_revoke_stops_the_key_and_keeps_the_name(client, runner, rows):
    key = create(runner, "ops")
    result = runner.invoke(args=["keys", "revoke", "OPS"])
    assert result.exit_code == 0, result.output
    assert "Revoked the key of ops" in result.output
    response = client.post("/api/records", json={"value1": "x"}, headers={"api-key": key})
    assert (response.status_code, response.json["message"]) == (401, REVOKED_KEY_REFUSED)
    assert "already revoked" in runner.invoke(args=["keys", "revoke", "ops"]).output
    assert client.post("/api/keys", json={"username": "ops"}).status_code == 409
    assert rows(AuthenticationKey)[0].state() == "revoked"


def test_revoke_of_an_unknown_username_fails(runner):
    result = runner.invoke(args=["keys", "revoke", "nobody"])
    assert result.exit_code == 1
    assert "No key has the username 'nobody'." in result.output


def test_rotate_brings_back_a_revoked_username(client, runner):
    old = create(runner, "ops")
    runner.invoke(args=["keys", "revoke", "ops"])
    result = runner.invoke(args=["keys", "rotate", "ops"])
    assert result.exit_code == 0, result.output
    new = result.stdout.strip()
    assert KEY.fullmatch(new)
    assert client.post("/api/records", json={"value1": "x"}, headers={"api-key": new}).status_code == 201
    response = client.post("/api/records", json={"value1": "x"}, headers={"api-key": old})
    assert (response.status_code, response.json["message"]) == (401, KEY_REPLACED)


def test_list_shows_every_key_and_no_secret(client, runner):
    first = create(runner, "ops")
    client.post("/api/keys/me/rotate", headers={"api-key": first})
    second = create(runner, "auditor")
    runner.invoke(args=["keys", "revoke", "auditor"])
    result = runner.invoke(args=["keys", "list"])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines()]
    assert lines[0] == [
        "username", "prefix", "state", "created_on", "last_used_at", "expires_at", "name", "scopes",
    ]  # fmt: skip
    assert [(line[0], line[2], line[6]) for line in lines[1:]] == [
        ("auditor", "revoked", "default"),
        ("ops", "replaced", "default"),
        ("ops", "active", "default"),
    ]
    assert {line[7] for line in lines[1:]} == {"records:write,games:write,keys:manage"}
    assert lines[1][1] == second.rpartition("_")[0]
    for key in (first, second):
        assert key.rpartition("_")[2] not in result.output


# --- flask seed and flask games import ---


def fields_of(item, names):
    return {name: getattr(item, name) for name in names}


def test_seed_records_inserts_valid_rows_stamped_as_seed(runner, rows):
    result = runner.invoke(args=["seed", "records", "250", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "Inserted 250 records" in result.output
    stored = rows(Record)
    assert len(stored) == 250
    for record in stored:
        assert record_schema.validate(fields_of(record, RECORD_FIELDS)) == {}
        assert record.lastmodifiedby == "seed"
        assert record.creationdate <= record.lastmodificationdate
    assert len({r.value1 for r in stored}) > 20  # varied, not one row repeated
    assert any(r.value1 is None for r in stored) and any(r.value2 is None for r in stored)


def test_seed_games_inserts_valid_rows_stamped_as_asked(runner, rows):
    result = runner.invoke(args=["seed", "games", "120", "--as", "alice"])
    assert result.exit_code == 0, result.output
    assert "Inserted 120 games" in result.output
    stored = rows(Game)
    assert len(stored) == 120
    for game in stored:
        assert game_schema.validate(fields_of(game, GAME_FIELDS)) == {}
        assert game.lastmodifiedby == "alice"
    assert len({g.platform for g in stored}) > 5


def test_seed_with_a_seed_makes_the_same_rows(runner, rows):
    runner.invoke(args=["seed", "games", "30", "--seed", "1"])
    runner.invoke(args=["seed", "games", "30", "--seed", "1"])
    stored = [fields_of(g, GAME_FIELDS) for g in rows(Game)]
    assert stored[:30] == stored[30:]


def test_bulk_load_keeps_strings_with_copy_special_characters(app, rows):
    tricky = ["tab\there", "new\nline", "back\\slash", "\\N", "", "cr\rlf", "€ and ✓"]
    now = utcnow()
    with app.app_context():
        loaded = bulk.insert_rows(
            Record,
            (
                "timestamp",
                "value1",
                "value2",
                "value3",
                "creationdate",
                "lastmodificationdate",
                "lastmodifiedby",
            ),
            [(float(n), text, None, n % 2 == 0, now, now, "seed") for n, text in enumerate(tricky)],
        )
        db.session.commit()  # insert_rows leaves the commit to its caller, as the CLI commands do
    assert loaded == len(tricky)
    stored = rows(Record)
    assert [r.value1 for r in stored] == tricky
    assert [(r.value2, r.value3, r.creationdate) for r in stored] == [
        (None, n % 2 == 0, now) for n in range(len(tricky))
    ]


@pytest.mark.postgresql_only  # only a COPY into PostgreSQL sets indexes aside
def test_a_large_seed_rebuilds_every_index(app, runner, rows, monkeypatch, db_url):
    monkeypatch.setattr(bulk, "REBUILD_AT", 1)
    with app.app_context():
        before = {ix["name"] for ix in sa.inspect(db.engine).get_indexes("record")}
    result = runner.invoke(args=["seed", "records", "40"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        after = {ix["name"] for ix in sa.inspect(db.engine).get_indexes("record")}
    assert after == before
    assert {"ix_record_timestamp", "ix_record_value1_trgm"} <= after
    assert len(rows(Record)) == 40
    with app.app_context(), db.engine.connect() as connection:
        assert newer_of_the_id_indexes(connection, "record") == "pk_record"  # made again last too


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["seed", "records", "0"], "0"),
        (["seed", "records", "many"], "many"),
        (["seed", "games", "5", "--as", "not a name"], "--as"),
        (["seed", "plants", "5"], "plants"),
    ],
)
def test_seed_refuses_bad_arguments(runner, rows, args, complaint):
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert complaint in result.output
    assert rows(Record) == [] and rows(Game) == []


# --- flask games import -------------------------------------------------------------------------------

CSV = (
    "Rank,Name,Platform,Year,Genre,Publisher,NA_Sales,EU_Sales,JP_Sales,Other_Sales,Global_Sales\n"
    "1,Wii Sports,Wii,2006,Sports,Nintendo,41.49,29.02,3.77,8.46,82.74\n"  # line 2: good
    "2,Super Mario Bros.,NES,1985.0,Platform,Nintendo,29.08,3.58,6.81,0.77,40.24\n"  # 3: good (1985.0)
    "3,Imagine: Makeup Artist,DS,N/A,Simulation,Ubisoft,0.27,0,0,0.02,0.29\n"  # 4: year N/A
    '4,"Pokemon Red/Pokemon Blue", GB ,1996,Role-Playing,Nintendo,11.27,8.89,10.22,1,31.37\n'  # 5: good
    "5,Untitled,PS2,2004,Action,   ,0.1,0,0,0,0.1\n"  # 6: blank publisher
    "6,Old Game,2600,1949,Action,Atari,1,0,0,0,1\n"  # 7: year too early
    "7," + "L" * 256 + ",PC,2001,Misc,Nobody,0,0,0,0,0\n"  # 8: name too long
    "8,Imagine: Babyz,DS,N/A,Simulation,,0.1,0,0,0,0.1\n"  # 9: year N/A and blank publisher
    "9,Short Row,PC\n"  # 10: cells missing
    "10,Nul\x00Game,PC,2000,Action,Someone,0,0,0,0,0\n"  # 11: NUL in the name
)


@pytest.fixture
def games_csv(tmp_path):
    path = tmp_path / "vgsales.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_import_loads_good_rows_and_reports_bad_ones_by_reason(runner, rows, games_csv):
    result = runner.invoke(args=["games", "import", str(games_csv), "--as", "vgchartz"])
    assert result.exit_code == 0, result.output
    assert "Imported 3 games" in result.output
    assert "skipped 7 rows" in result.output
    assert "year: Not a valid integer. (2 rows: line 4, 9)" in result.output
    assert "publisher: Must not be blank. (2 rows: line 6, 9)" in result.output
    assert "year: Must be greater than or equal to 1950" in result.output
    assert "name: Longer than maximum length 255. (1 rows: line 8)" in result.output
    assert "Field may not be null. (1 rows: line 10)" in result.output
    assert "name: Must not contain a NUL character. (1 rows: line 11)" in result.output
    stored = rows(Game)
    assert [fields_of(g, GAME_FIELDS) for g in stored] == [
        {"name": "Wii Sports", "platform": "Wii", "publisher": "Nintendo", "genre": "Sports", "year": 2006},
        {"name": "Super Mario Bros.", "platform": "NES", "publisher": "Nintendo", "genre": "Platform",
         "year": 1985},
        {"name": "Pokemon Red/Pokemon Blue", "platform": "GB", "publisher": "Nintendo",
         "genre": "Role-Playing", "year": 1996},
    ]  # fmt: skip
    assert {g.lastmodifiedby for g in stored} == {"vgchartz"}


def test_import_without_a_needed_column_loads_nothing(runner, rows, tmp_path):
    path = tmp_path / "games.csv"
    path.write_text("Name,Platform,Genre\nDoom,PC,Shooter\n")
    result = runner.invoke(args=["games", "import", str(path), "--as", "vgchartz"])
    assert result.exit_code == 1
    assert "lacks the column(s) Year, Publisher" in result.output
    assert rows(Game) == []


def test_import_of_a_file_in_another_encoding_says_so_and_takes_encoding(runner, rows, tmp_path):
    path = tmp_path / "games.csv"
    path.write_bytes("Name,Platform,Year,Genre,Publisher\nPokémon,GB,1996,RPG,Nintendo\n".encode("latin-1"))
    result = runner.invoke(args=["games", "import", str(path), "--as", "vgchartz"])
    assert result.exit_code == 1
    assert "not utf-8-sig text" in result.output
    assert rows(Game) == []
    result = runner.invoke(args=["games", "import", str(path), "--as", "vgchartz", "--encoding", "latin-1"])
    assert result.exit_code == 0, result.output
    assert [g.name for g in rows(Game)] == ["Pokémon"]


def test_import_needs_a_username_and_an_existing_file(runner, games_csv, tmp_path):
    missing_as = runner.invoke(args=["games", "import", str(games_csv)])
    assert missing_as.exit_code == 2
    assert "--as" in missing_as.output
    missing_file = runner.invoke(args=["games", "import", str(tmp_path / "nope.csv"), "--as", "x"])
    assert missing_file.exit_code == 2
    assert "does not exist" in missing_file.output


def test_import_stopped_by_a_bad_byte_deep_in_the_file_loads_nothing(runner, rows, tmp_path):
    path = tmp_path / "games.csv"
    good = "".join(f"Game {n},PC,2000,Action,Someone\n" for n in range(3000)).encode()
    path.write_bytes(
        b"Name,Platform,Year,Genre,Publisher\n" + good + "Pokémon,GB,1996,RPG,Nintendo\n".encode("latin-1")
    )
    result = runner.invoke(args=["games", "import", str(path), "--as", "vgchartz"])
    assert result.exit_code == 1
    assert "not utf-8-sig text" in result.output
    assert rows(Game) == []


@pytest.mark.postgresql_only
def test_seed_is_not_cut_short_by_the_request_statement_timeout(db_url, monkeypatch, rows):
    monkeypatch.setenv("PHOENIX_DB_STATEMENT_TIMEOUT_MS", "100")  # the COPY of 40,000 rows takes longer
    strict = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url})
    result = strict.test_cli_runner().invoke(args=["seed", "records", "40000"])
    assert result.exit_code == 0, result.output
    assert len(rows(Record)) == 40000
    with strict.app_context():
        db.engine.dispose()
