"""Bounded cost per request (DESIGN, "Abuse resistance"): capped counts, one-field sorts, probed searches.

The bounds are the module constants of phoenix.listing, made small here so that a handful of rows shows
what a million would: a count stopped at its cap, a search page made of a window's matches only.
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from phoenix import listing
from phoenix.extensions import db
from phoenix.models import Game, Record, utcnow


def insert_games(app, names, years=None):
    """Games with these names (and years), in this order of id; their ids."""
    now = utcnow()
    years = years or [2000] * len(names)
    with app.app_context():
        ids = [
            db.session.execute(
                sa.insert(Game)
                .values(name=name, platform="PC", publisher="P", genre="G", year=year,
                        creationdate=now + timedelta(seconds=n), lastmodificationdate=now, lastmodifiedby="seed")
                .returning(Game.id)
            ).scalar_one()
            for n, (name, year) in enumerate(zip(names, years, strict=True))
        ]  # fmt: skip
        db.session.commit()
        return ids


def pages(client, url):
    """Every page of a list, following links.next: the games' ids of each page."""
    seen = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json
        seen.append([game["id"] for game in response.json["games"]])
        url = response.json["links"]["next"]
    return seen


def game_count(app):
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Game)).scalar_one()


# --- count=exact ----------------------------------------------------------------------------------------


def test_count_exact_stops_at_its_cap_and_says_so(app, client, monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 3)
    insert_games(app, [f"Doom {n}" for n in range(5)])
    response = client.get("/api/games?genre=g&limit=1&count=exact")
    assert response.status_code == 200
    assert response.json["total"] == 3
    assert response.json["total_exact"] is False
    assert len(response.json["games"]) == 1
    assert game_count(app) == 5


def test_count_exact_of_a_search_stops_at_its_own_cap(app, client, monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 4)
    monkeypatch.setattr(listing, "SEARCH_COUNT_CAP", 2)
    insert_games(app, [f"Doom {n}" for n in range(5)])
    response = client.get("/api/games?name=doom&count=exact")
    assert response.status_code == 200
    assert (response.json["total"], response.json["total_exact"]) == (2, False)
    assert len(response.json["games"]) == 5
    assert client.get("/api/games?count=exact").json["total"] == 4


def test_count_exact_under_its_cap_is_exact(app, client, monkeypatch):
    monkeypatch.setattr(listing, "SEARCH_COUNT_CAP", 3)
    insert_games(app, ["Doom", "Quake", "Doom II"])
    response = client.get("/api/games?name=doom&count=exact")
    assert response.status_code == 200
    assert (response.json["total"], response.json["total_exact"]) == (2, True)


@pytest.mark.parametrize("url", ["/api/games?name=oo&count=exact", "/api/records?q=%25&count=exact"])
def test_count_exact_of_a_substring_shorter_than_a_trigram_is_400(app, client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert response.json["code"] == "invalid_parameters"
    assert list(response.json["errors"]) == ["count"]
    assert "at least 3 characters" in response.json["errors"]["count"][0]
    assert "Retry-After" not in response.headers


# --- substring searches: bounded probing ----------------------------------------------------------------

NAMES = ["Quake", "Myst", "Tetris", "Zork", "Pong", "Elite", "Rogue", "Doom", "Doom II", "Doom 3"]


@pytest.fixture
def small_window(monkeypatch):
    """A search looks at the next 3 rows only, as a million rows would look at 1,000 then 10,000."""
    monkeypatch.setattr(listing, "FIRST_WINDOW", 3)
    monkeypatch.setattr(listing, "SEARCH_WINDOW", 3)


def test_a_rare_substring_is_found_whole_past_the_window(app, client, small_window, monkeypatch):
    monkeypatch.setattr(listing, "RARE_MATCHES", 5)  # 3 matches: rare
    ids = insert_games(app, NAMES)
    assert pages(client, "/api/games?name=doom&limit=2") == [[ids[7], ids[8]], [ids[9]]]


def test_a_common_substring_outside_the_window_pages_by_windows(app, client, small_window, monkeypatch):
    monkeypatch.setattr(listing, "RARE_MATCHES", 2)  # 3 matches: common, but none in the first window
    ids = insert_games(app, NAMES)
    first = client.get("/api/games?name=doom&limit=2")
    assert first.status_code == 200
    assert first.json["games"] == []  # the first 3 rows hold no match...
    assert first.json["next_cursor"] is not None  # ...and more may follow
    assert first.headers["Link"] == f'<{first.json["links"]["next"]}>; rel="next"'
    walked = pages(client, "/api/games?name=doom&limit=2")
    assert [game_id for page in walked for game_id in page] == ids[7:]  # each match once, in order
    assert all(len(page) <= 2 for page in walked)


def test_a_substring_not_in_the_first_window_is_looked_for_in_a_larger_one(app, client, monkeypatch):
    monkeypatch.setattr(listing, "FIRST_WINDOW", 2)
    monkeypatch.setattr(listing, "SEARCH_WINDOW", 6)
    monkeypatch.setattr(listing, "RARE_MATCHES", 1)
    ids = insert_games(app, ["Quake", "Myst", "Doom", "Zork", "Doom II", "Pong", "Doom 3"])
    first = client.get("/api/games?name=doom&limit=1")
    assert first.status_code == 200
    assert [game["id"] for game in first.json["games"]] == [ids[2]]  # a full page: a next one follows
    assert pages(client, "/api/games?name=doom&limit=1") == [[ids[2]], [ids[4]], [ids[6]]]


def test_a_rare_substring_whose_matches_start_near_is_found_whole(app, client, monkeypatch):
    monkeypatch.setattr(listing, "FIRST_WINDOW", 2)  # one match there: the larger window comes first
    monkeypatch.setattr(listing, "SEARCH_WINDOW", 3)  # still one: then the count says rare
    monkeypatch.setattr(listing, "RARE_MATCHES", 5)
    ids = insert_games(app, ["Doom", "Myst", "Zork", "Pong", "Elite", "Rogue", "Quake", "Doom II"])
    response = client.get("/api/games?name=doom&limit=2")
    assert response.status_code == 200
    assert [game["id"] for game in response.json["games"]] == [ids[0], ids[7]]
    assert response.json["next_cursor"] is None


def test_a_substring_shorter_than_a_trigram_pages_by_windows_even_when_rare(app, client, small_window):
    ids = insert_games(app, NAMES)
    walked = pages(client, "/api/games?name=oo&limit=2")
    assert [game_id for page in walked for game_id in page] == [ids[7], ids[8], ids[9]]
    assert walked[0] == []


def test_a_substring_in_every_row_fills_its_page_from_the_window(app, client, small_window):
    ids = insert_games(app, [f"Game {n}" for n in range(7)])
    assert pages(client, "/api/games?name=game&limit=3") == [ids[:3], ids[3:6], ids[6:]]


def test_a_windowed_search_keeps_another_sort_and_its_cursor(app, client, small_window, monkeypatch):
    monkeypatch.setattr(listing, "RARE_MATCHES", 1)  # never rare: windows all the way
    names = ["Doom", "Myst", "Doom II", "Zork", "Doom 3", "Pong"]
    ids = insert_games(app, names, years=[1993, 1994, 1994, 1980, 2004, 1972])
    walked = pages(client, "/api/games?name=doom&sort=-year&limit=1")
    assert [game_id for page in walked for game_id in page] == [ids[4], ids[2], ids[0]]


def test_records_q_is_probed_the_same_way(app, client, small_window, monkeypatch):
    monkeypatch.setattr(listing, "RARE_MATCHES", 1)
    now = utcnow()
    values = ["cellar ok", None, "attic ok", "pump high", "barn high"]
    with app.app_context():
        ids = [
            db.session.execute(
                sa.insert(Record).values(value1=value, creationdate=now, lastmodificationdate=now,
                                         lastmodifiedby="seed").returning(Record.id)
            ).scalar_one()
            for value in values
        ]  # fmt: skip
        db.session.commit()
    seen, url = [], "/api/records?q=HIGH&limit=1"
    while url:
        body = client.get(url).json
        seen += [record["id"] for record in body["records"]]
        url = body["links"]["next"]
    assert seen == [ids[3], ids[4]]


# --- the costliest requests count as several reads --------------------------------------------------------

READS_LIMIT = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "memory://",
    "PHOENIX_RATELIMIT_READS": "200/minute",
}


@pytest.mark.parametrize(
    ("url", "cost"),
    [
        ("/api/games", 1),
        ("/api/games?limit=100", 1),
        ("/api/games?limit=101", 2),
        ("/api/games?limit=500", 5),
        ("/api/games?name=doom", 1 + listing.SEARCH_READS),
        ("/api/records?q=doom&limit=500&count=exact", 5 + listing.SEARCH_READS + listing.COUNT_READS),
        ("/api/games?limit=nonsense", 1),
        ("/api/records/1", 1),
    ],
)
def test_a_read_counts_against_the_reads_limit_in_proportion_to_its_cost(db_url, url, cost):
    from phoenix import create_app

    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, **READS_LIMIT})
    response = app.test_client().get(url)
    assert response.status_code in (200, 400, 404)
    assert response.headers["X-RateLimit-Limit"] == "200"
    assert response.headers["X-RateLimit-Remaining"] == str(200 - cost)


def test_the_costliest_reads_run_out_of_the_limit_sooner(db_url):
    from phoenix import create_app

    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, **READS_LIMIT})
    client = app.test_client()
    costly = "/api/games?name=doom&limit=500&count=exact"  # 105 reads of 200
    assert client.get(costly).status_code == 200
    refused = client.get(costly)
    assert refused.status_code == 429
    assert refused.json["status"] == "failed"
    assert "Retry-After" in refused.headers


def test_what_a_costly_read_leaves_serves_plain_reads(db_url):
    from phoenix import create_app

    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, **READS_LIMIT})
    client = app.test_client()
    assert client.get("/api/games?name=doom&limit=500&count=exact").status_code == 200
    assert [client.get("/api/games").status_code for _ in range(96)] == [200] * 95 + [429]
