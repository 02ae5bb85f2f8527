"""/api/openapi.json as tools take it: Redocly's recommended lint, and a client that openapi-python-client
generates from it, driven end to end on SQLite and PostgreSQL.

Redocly CLI runs through npx (Node.js): without npx its test is skipped, except under .ci/run
(PHOENIX_REQUIRE_NODE=1), where that fails. The generated client talks to the app in process, through
httpx's WSGI transport: what is under test is the document and the client made from it, not the HTTP server
(tests/test_browser.py and bench/ drive Phoenix under gunicorn).
"""

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from phoenix import create_app
from tests.openapi_support import served_spec

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
REDOCLY = ("--yes", "@redocly/cli@2.77.0")
IGNORE_FILE = ROOT / ".redocly.lint-ignore.yaml"
# The Project Phoenix paths that end in a slash: all that the ignore file may name.
TRAILING_SLASH_PATHS = ("/api/generate_key/", "/api/read/", "/api/modify/", "/api/remove/")
GAME = {"name": "Doom", "platform": "PC", "publisher": "id Software", "genre": "Shooter", "year": 1993}


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    """The spec as the app serves it, in a file of its own (it does not depend on the database)."""
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    path = tmp_path_factory.mktemp("spec") / "openapi.json"
    path.write_text(json.dumps(served_spec(app.test_client()), indent=1))
    return path


def npx_or_skip():
    """The path of npx, or skip (fail under PHOENIX_REQUIRE_NODE=1, as .ci/run sets)."""
    npx = shutil.which("npx")
    if npx is None:
        message = "Redocly's lint needs npx (Debian: apt-get install nodejs npm)"
        if os.environ.get("PHOENIX_REQUIRE_NODE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return npx


def test_a_missing_npx_skips_the_lint_but_fails_it_under_phoenix_require_node(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("PHOENIX_REQUIRE_NODE", raising=False)
    with pytest.raises(pytest.skip.Exception, match="npx"):
        npx_or_skip()
    monkeypatch.setenv("PHOENIX_REQUIRE_NODE", "1")
    with pytest.raises(pytest.fail.Exception, match="npx"):
        npx_or_skip()


def ignored_pointers():
    """The JSON pointers that the checked-in ignore file names, as paths (#/paths/~1api~1read~1 -> /api/read/)."""
    pointers = re.findall(r"^\s+- '#/paths/([^/']+)", IGNORE_FILE.read_text(), re.MULTILINE)
    return {pointer.replace("~1", "/") for pointer in pointers}


def test_the_ignore_file_names_only_the_trailing_slash_paths():
    assert ignored_pointers() == set(TRAILING_SLASH_PATHS)


def test_redocly_recommended_rules_report_nothing_but_the_ignored_paths(spec_file):
    npx = npx_or_skip()
    shutil.copy(IGNORE_FILE, spec_file.parent / IGNORE_FILE.name)
    result = subprocess.run(
        [npx, *REDOCLY, "lint", "--extends=recommended", "--format=json", spec_file.name],
        cwd=spec_file.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # The report is the JSON object on stdout (npm may print notices around it).
    report = json.loads(result.stdout[result.stdout.index("{") :])
    reported = [
        (problem["ruleId"], problem["location"][0]["pointer"])
        for problem in report["problems"]
        if not problem.get("ignored")
    ]
    assert reported == [], result.stdout
    assert report["totals"]["errors"] == report["totals"]["warnings"] == 0
    # The four paths' trailing slash, and the missing 2xx of their five operations: nothing more.
    assert report["totals"]["ignored"] == 9
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def phoenix_client(spec_file, tmp_path_factory):
    """The package openapi-python-client generates from the spec (with its default settings), imported."""
    out = tmp_path_factory.mktemp("client")
    result = subprocess.run(
        [
            str(VENV_BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(spec_file),
            "--meta",
            "none",
            "--output-path",
            str(out / "phoenix_client"),
        ],
        cwd=out,
        # ruff (from this virtualenv) formats what it writes, as it does for any user who has it.
        env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    assert "error" not in output.lower(), output
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("phoenix_client")
    finally:
        sys.path.remove(str(out))
        for name in [name for name in sys.modules if name.split(".")[0] == "phoenix_client"]:
            del sys.modules[name]


def test_the_generated_models_are_named_after_the_components(phoenix_client):
    models = importlib.import_module("phoenix_client.models")
    for name in ("Record", "RecordInput", "RecordPatch", "RecordEnvelope", "RecordPage", "RecordBatch"):
        assert hasattr(models, name) and hasattr(models, name.replace("Record", "Game")), name
    for name in ("HistoryPage", "KeyCreated", "OwnKey", "Error"):
        assert hasattr(models, name), name
    # No anonymous models: one per component, none named after an operation or a variant.
    anonymous = [
        name
        for name in models.__all__
        if re.search(r"Type\d|Response\d{3}|^(Get|Post|Put|Patch|Delete)", name)
    ]
    assert anonymous == [], anonymous


def api(name):
    """A module of the generated client (phoenix_client.api.records.get_record, ...)."""
    return importlib.import_module(f"phoenix_client.api.{name}")


def test_the_generated_client_drives_phoenix_end_to_end(phoenix_client, app, rows):
    """Create a key, create a record, read it, PATCH it with its ETag in If-Match, list two pages, search
    games, delete; every answer typed as the spec says."""
    from phoenix_client.models import (
        Error,
        GameEnvelope,
        GameInput,
        GamePage,
        KeyCreated,
        KeyRequest,
        Message,
        RecordEnvelope,
        RecordInput,
        RecordPage,
        RecordPatch,
    )

    from phoenix.models import Game, Record

    transport = httpx.WSGITransport(app=app)
    public = phoenix_client.Client(base_url="http://phoenix.test", httpx_args={"transport": transport})

    made = api("keys.post_keys").sync_detailed(client=public, body=KeyRequest(username="generated"))
    assert made.status_code == 201 and isinstance(made.parsed, KeyCreated)
    assert made.headers["Cache-Control"] == "no-store"
    assert made.parsed.username == "generated" and made.parsed.api_key.startswith(made.parsed.prefix)
    # AuthenticatedClient sends the key as Authorization: Bearer, the spec's second scheme.
    signed = phoenix_client.AuthenticatedClient(
        base_url="http://phoenix.test", token=made.parsed.api_key, httpx_args={"transport": transport}
    )

    records = api("records.post_records")
    created = records.sync_detailed(client=signed, body=RecordInput(value1="first", value2=1.5))
    assert created.status_code == 201 and isinstance(created.parsed, RecordEnvelope)
    first = created.parsed.record
    assert (first.value1, first.value2, first.lastmodifiedby) == ("first", 1.5, "generated")
    assert created.headers["Location"].endswith(f"/api/records/{first.id}")
    second = records.sync_detailed(client=signed, body=[RecordInput(value3=True)])
    assert second.status_code == 201 and [r.value3 for r in second.parsed.records] == [True]

    read = api("records.get_record").sync_detailed(first.id, client=public)
    assert read.status_code == 200 and read.parsed.record.value1 == "first"
    etag = read.headers["ETag"]
    assert etag == '"1"'

    patch = api("records.patch_record")
    changed = patch.sync_detailed(first.id, client=signed, body=RecordPatch(value1="second"), if_match=etag)
    assert changed.status_code == 200 and changed.parsed.record.value1 == "second"
    assert changed.headers["ETag"] == '"2"'
    stale = patch.sync_detailed(first.id, client=signed, body=RecordPatch(value1="third"), if_match=etag)
    assert stale.status_code == 412 and isinstance(stale.parsed, Error)
    assert stale.headers["ETag"] == '"2"'

    listing = api("records.get_records")
    page = listing.sync_detailed(client=public, limit=1)
    assert page.status_code == 200 and isinstance(page.parsed, RecordPage)
    assert [r.id for r in page.parsed.records] == [first.id]
    assert page.parsed.next_cursor
    following = listing.sync_detailed(client=public, limit=1, cursor=page.parsed.next_cursor)
    assert [r.id for r in following.parsed.records] == [second.parsed.records[0].id]
    assert following.parsed.next_cursor is None and following.parsed.links.next_ is None

    game = api("games.post_games").sync_detailed(client=signed, body=GameInput(**GAME))
    assert game.status_code == 201 and isinstance(game.parsed, GameEnvelope)
    found = api("games.get_games").sync_detailed(client=public, name="doo")
    assert isinstance(found.parsed, GamePage) and [g.name for g in found.parsed.games] == ["Doom"]
    assert api("games.get_games").sync_detailed(client=public, name="quake").parsed.games == []

    removed = api("records.delete_record").sync_detailed(first.id, client=signed, if_match='"2"')
    assert removed.status_code == 200 and removed.parsed.record.value1 == "second"
    assert removed.parsed.message == f"The record {first.id} has been removed."
    gone = api("records.get_record").sync_detailed(first.id, client=public)
    assert gone.status_code == 404 and isinstance(gone.parsed, Error)
    legacy = api("project_phoenix.delete_legacy_remove").sync_detailed(
        second.parsed.records[0].id, client=signed
    )
    assert legacy.status_code == 200 and isinstance(legacy.parsed, Message)

    assert rows(Record) == []
    assert [(g.name, g.lastmodifiedby) for g in rows(Game)] == [("Doom", "generated")]
