"""The benchmark's reading of wrk's report, its seeded search words, and of the issues' targets (bench/)."""

import math

import pytest
import sqlalchemy as sa

from bench import database, run, wrk
from phoenix.extensions import db
from phoenix.models import Game, utcnow

REPORT = """Running 10s test @ http://127.0.0.1:40000
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.27ms    1.02ms  30.11ms   90.12%
    Req/Sec     1.49k   120.10     1.70k    70.00%
  Latency Distribution
     50%    5.21ms
     75%    5.60ms
     90%    6.10ms
     99%    1.20s
  29560 requests in 10.00s, 12.34MB read
  Socket errors: connect 0, read 3, write 0, timeout 1
  Non-2xx or 3xx responses: 2
Requests/sec:   2956.12
Transfer/sec:      1.23MB
"""


def test_a_percentile_in_seconds_is_read_though_wrk_pads_it_with_a_space():
    result = wrk.parse(REPORT.replace("     99%    1.20s\n", "     99%    2.15s \n"))
    assert result.p99_ms == pytest.approx(2150.0)


def test_wrk_report_is_read_in_milliseconds():
    result = wrk.parse(REPORT)
    assert result.requests_per_second == 2956.12
    assert result.p50_ms == pytest.approx(5.21)
    assert result.p99_ms == pytest.approx(1200.0)
    assert result.requests == 29560
    assert result.errors == 6  # 3 read + 1 timeout + 2 non-2xx
    # wrk pads a value in seconds with a trailing space.
    assert wrk.parse(REPORT.replace("1.20s\n", "1.20s \n")).p99_ms == pytest.approx(1200.0)


def test_a_run_without_an_answer_has_no_percentiles():
    silent = "\n".join(line for line in REPORT.splitlines() if "%" not in line or "Stdev" in line)
    result = wrk.parse(silent.replace("29560 requests", "0 requests"))
    assert result.requests == 0
    assert math.isnan(result.p50_ms) and math.isnan(result.p99_ms)


def test_wrk_latency_units():
    assert wrk.milliseconds("850us") == pytest.approx(0.85)
    assert wrk.milliseconds("2.5ms") == 2.5
    assert wrk.milliseconds("1.5s") == 1500.0


def summary(rps, p50, p99=None):
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99 or p50 * 2, "errors": 0, "runs": []}


def test_targets_compare_phoenix_with_the_limit_and_search_growth_with_size():
    yardstick = [
        {"case": run.YARDSTICK[0].name, "phoenix 1,000,000": summary(900, 5), "limit": summary(1000, 4),
         "bare Flask": summary(3000, 2)},
        {"case": run.YARDSTICK[2].name, "phoenix 1,000,000": summary(700, 9), "limit": summary(1000, 6),
         "bare Flask": summary(3000, 2)},
    ]  # fmt: skip
    searches = [
        {"case": "flat", "phoenix 1,000": summary(500, 10.0), "phoenix 1,000,000": summary(480, 12.0, 30.0)},
        {"case": "grows", "phoenix 1,000": summary(500, 10.0), "phoenix 1,000,000": summary(100, 16.0, 60.0)},
    ]
    checks = run.targets(yardstick, searches, [1000, 1000000], rss_after=80.0)
    verdicts = {target.label: (round(value, 2), target.met(value)) for target, value in checks}
    assert verdicts == {
        "GET /api/records/<id>: Phoenix / limit req/s": (0.9, True),  # goal 0.85
        "POST /api/records (key): Phoenix / limit req/s": (0.7, False),  # goal 0.8
        "flat: p50 1,000,000 / 1,000 rows": (1.2, True),
        "flat: p99 ms at 1,000,000 rows": (30.0, True),
        "grows: p50 1,000,000 / 1,000 rows": (1.6, False),
        "grows: p99 ms at 1,000,000 rows": (60.0, False),
        "Phoenix worker RSS after the run, MB": (80.0, True),
    }


def test_search_words_are_planted_at_their_frequencies():
    rows = [(n, f"Game {n}") for n in range(100_000)]
    texts = [text.lower() for _, text in database.planted(rows, 1, len(rows))]
    share = {word: sum(word in text for text in texts) / len(texts) for word in database.SEARCH_WORDS}
    assert sum("quixotic" in text for text in texts) == 1
    assert share["platinum"] == pytest.approx(0.007, abs=0.0003)
    assert share["classic"] == pytest.approx(0.125, abs=0.001)
    assert share["collection"] == 1.0
    assert texts[8] == "game 8 classic collection"


def test_search_words_fill_an_empty_text():
    assert list(database.planted([(None, 1)], 0, 10)) == [("Platinum Classic Collection", 1)]


def test_every_search_case_is_measured_in_two_orders():
    paths = [case.path for case in run.search_cases()]
    assert len(paths) == 2 * len(database.SEARCH_WORDS) * 2
    assert "/api/games?name=platinum&limit=50&sort=-year" in paths
    assert "/api/records?q=quixotic&limit=50" in paths


def test_the_limit_floor_is_measured_beside_the_searches_that_a_window_finds():
    floors = {case.path: case.floor for case in run.search_cases()}
    assert (
        floors["/api/games?name=platinum&limit=50"]
        and floors["/api/records?q=classic&limit=50&sort=-timestamp"]
    )
    assert not floors["/api/games?name=quixotic&limit=50"] and not floors["/api/records?q=quixotic&limit=50"]
    assert sum(floors.values()) == 2 * 2 * (len(database.SEARCH_WORDS) - len(database.RARE_WORDS))


def test_the_report_gives_the_floors_growth_beside_phoenixs():
    sizes = [1000, 1000000]
    searches = [
        {"case": "windowed", "phoenix 1,000": summary(500, 2.0), "phoenix 1,000,000": summary(300, 3.2),
         "limit 1,000": summary(2000, 0.5), "limit 1,000,000": summary(900, 1.5)},
        {"case": "rare", "phoenix 1,000": summary(500, 2.0), "phoenix 1,000,000": summary(500, 2.0)},
    ]  # fmt: skip
    checks = run.targets([], searches, sizes, rss_after=80.0)
    about = {
        "date": "today",
        "cpu": "cpu",
        "cores": 2,
        "memory_gb": 1,
        "system": "Linux",
        "python": "3",
        "load_before": 0,
    }
    text = run.report([], searches, sizes, checks, 80.0, 80.0, about, "settings")
    assert "| windowed | 2.00 | 3.20 | 1.60 | 6.40 | 300 | 0.50 | 1.50 | 3.00 |" in text
    assert "| rare | 2.00 | 2.00 | 1.00 | 4.00 | 500 | — | — | — |" in text
    assert "| windowed: p50 1,000,000 / 1,000 rows | <= 1.5 | 1.60 | 3.00 |" in text
    assert "4 of 5 targets met." in text


@pytest.mark.postgresql_only
def test_the_limit_apps_floor_answers_phoenixs_first_page_of_a_search(app, client, db_url, monkeypatch):
    from bench import limit

    with app.app_context():
        words = ["Platinum Doom" if n % 3 == 0 else "Doom" for n in range(40)]
        games = [{"name": name, "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1990 + n % 7}
                 for n, name in enumerate(words)]  # fmt: skip
        now = utcnow()
        stamped = [
            {**g, "creationdate": now, "lastmodificationdate": now, "lastmodifiedby": "seed"} for g in games
        ]
        db.session.execute(sa.insert(Game), stamped)
        db.session.commit()
    libpq_url = sa.engine.make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", libpq_url)
    monkeypatch.setattr(limit.local, "connection", None, raising=False)
    floor = limit.app.test_client()
    try:
        for query in (
            "name=platinum&limit=5",
            "name=PLATINUM&limit=5&sort=-year",
            "name=doom&limit=50&sort=name",
        ):
            ours, theirs = floor.get(f"/api/games?{query}"), client.get(f"/api/games?{query}")
            assert ours.status_code == theirs.status_code == 200
            assert [game["id"] for game in ours.json["games"]] == [
                game["id"] for game in theirs.json["games"]
            ]
            assert len(ours.json["games"]) == {"5": 5, "50": 40}[query.split("limit=")[1].split("&")[0]]
        assert floor.get("/api/games?name=platinum&sort=nothing").status_code == 404
    finally:
        if limit.local.connection is not None:
            limit.local.connection.close()
