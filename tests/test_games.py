"""/api/games: the catalogue, its rules, and search by part of a name."""

import pytest

from phoenix.models import Game
from tests.fixtures.apps import GAME as DOOM


def test_create_is_201_and_stored(client, auth, rows):
    response = client.post("/api/games", json=DOOM, headers=auth)
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/games/1"
    game = response.json["game"]
    assert {name: game[name] for name in DOOM} == DOOM
    assert game["lastmodifiedby"] == "tester"
    [stored] = rows(Game)
    assert (stored.name, stored.platform, stored.publisher, stored.genre, stored.year) == tuple(DOOM.values())


def test_strings_are_trimmed(client, auth, rows, actions):
    game = actions.create_game(name="  Quake  ")
    assert game["name"] == "Quake"
    assert rows(Game)[0].name == "Quake"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"year": "1996"}, "year", "Not a valid integer."),
        ({"year": 1996.5}, "year", "Not a valid integer."),
        ({"year": True}, "year", "Not a valid integer."),
        ({"year": 1949}, "year", "Must be greater than or equal to 1950 and less than or equal to 2100."),
        ({"year": 2101}, "year", "Must be greater than or equal to 1950 and less than or equal to 2100."),
        ({"name": "   "}, "name", "Must not be blank."),
        ({"genre": ""}, "genre", "Must not be blank."),
        ({"platform": None}, "platform", "Field may not be null."),
        ({"name": 7}, "name", "Not a valid string."),
        ({"name": "x" * 256}, "name", "Longer than maximum length 255."),
        ({"platform": "x" * 101}, "platform", "Longer than maximum length 100."),
        ({"publisher": "id\x00"}, "publisher", "Must not contain a NUL character."),
    ],
)
def test_invalid_game_is_400_naming_the_field(client, auth, rows, changes, field, message):
    response = client.post("/api/games", json={**DOOM, **changes}, headers=auth)
    assert response.status_code == 400
    assert response.json["status"] == "failed"
    assert response.json["errors"] == {field: [message]}
    assert field in response.json["message"]
    assert rows(Game) == []


def test_boundary_years_are_accepted(client, auth, actions):
    assert actions.create_game(year=1950)["year"] == 1950
    assert actions.create_game(year=2100)["year"] == 2100


def test_missing_fields_are_each_named(client, auth, rows):
    response = client.post("/api/games", json={"name": "Doom"}, headers=auth)
    assert response.status_code == 400
    assert set(response.json["errors"]) == {"platform", "publisher", "genre", "year"}
    assert rows(Game) == []


def test_put_needs_every_field(client, auth, rows, actions):
    actions.create_game()
    response = client.put("/api/games/1", json={"name": "Doom II"}, headers=auth)
    assert response.status_code == 400
    assert rows(Game)[0].name == "Doom"
    response = client.put("/api/games/1", json={**DOOM, "name": "Doom II", "year": 1994}, headers=auth)
    assert response.status_code == 200
    assert (rows(Game)[0].name, rows(Game)[0].year) == ("Doom II", 1994)


def test_patch_changes_one_field(client, auth, make_key, rows, actions):
    actions.create_game()
    response = client.patch("/api/games/1", json={"year": 1994}, headers={"api-key": make_key("lex")})
    assert response.status_code == 200
    assert response.json["game"]["year"] == 1994
    assert response.json["game"]["name"] == "Doom"
    [stored] = rows(Game)
    assert (stored.year, stored.lastmodifiedby) == (1994, "lex")


def test_patch_cannot_null_a_required_field(client, auth, rows, actions):
    actions.create_game()
    response = client.patch("/api/games/1", json={"name": None}, headers=auth)
    assert response.status_code == 400
    assert rows(Game)[0].name == "Doom"


def test_delete(client, auth, rows, actions):
    actions.create_game()
    response = client.delete("/api/games/1", headers=auth)
    assert response.status_code == 200
    assert response.json["game"]["name"] == "Doom"
    assert rows(Game) == []
    assert client.get("/api/games/1").status_code == 404


def test_get_missing_game_is_404(client):
    response = client.get("/api/games/3")
    assert response.status_code == 404
    assert response.json["status"] == "failed"


def test_search_by_name_is_a_case_insensitive_substring(client, auth, actions):
    for name in ("Doom", "DOOM II", "Quake", "Final Doom"):
        actions.create_game(name=name)
    response = client.get("/api/games?name=doom")
    assert response.status_code == 200
    assert [game["name"] for game in response.json["games"]] == ["Doom", "DOOM II", "Final Doom"]


def test_search_takes_percent_and_underscore_literally(client, auth, actions):
    for name in ("100% Orange Juice", "100 Orange", "Snake_Pass", "SnakeXPass"):
        actions.create_game(name=name)
    assert [g["name"] for g in client.get("/api/games?name=100%25").json["games"]] == ["100% Orange Juice"]
    assert [g["name"] for g in client.get("/api/games?name=e_P").json["games"]] == ["Snake_Pass"]
