"""Changed since: creationdate_min/max and lastmodificationdate_min/max on both lists, with offsets."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from phoenix.extensions import db
from phoenix.models import Game, Record

GAME = {"name": "Doom", "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}
COLLECTIONS = [("records", Record, {"value1": "x"}), ("games", Game, GAME)]
# Three items: created on the 1st, 2nd and 3rd of January at noon UTC, each changed a day later.
DAYS = (1, 2, 3)


@pytest.fixture(params=COLLECTIONS, ids=lambda c: c[0])
def dated(request, app, client, auth):
    """The collection's name, its three items stamped on DAYS (set in the database)."""
    plural, model, body = request.param
    for _ in DAYS:
        assert client.post(f"/api/{plural}", json=body, headers=auth).status_code == 201
    with app.app_context():
        for item_id, day in zip((1, 2, 3), DAYS, strict=True):
            db.session.execute(
                sa.update(model)
                .where(model.id == item_id)
                .values(
                    creationdate=datetime(2026, 1, day, 12, tzinfo=UTC),
                    lastmodificationdate=datetime(2026, 1, day + 1, 12, tzinfo=UTC),
                )
            )
        db.session.commit()
    return plural


def ids(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json[url.split("?")[0].rsplit("/", 1)[1]]]


def test_bounds_are_inclusive_and_offsets_count(client, dated):
    base = f"/api/{dated}?"
    assert ids(client, base + "creationdate_min=2026-01-02T12:00:00Z") == [2, 3]
    assert ids(client, base + "creationdate_max=2026-01-02T12:00:00%2B00:00") == [1, 2]
    # 14:00 at +02:00 is 12:00 UTC.
    assert ids(client, base + "creationdate_min=2026-01-02T14:00:00%2B02:00") == [2, 3]
    assert ids(client, base + "creationdate_min=2026-01-02T14:00:01%2B02:00") == [3]
    assert ids(client, base + "lastmodificationdate_min=2026-01-03T00:00:00Z") == [2, 3]
    assert ids(
        client, base + "lastmodificationdate_max=2026-01-03T12:00:00Z&creationdate_min=2026-01-02T00:00:00Z"
    ) == [2]
    assert ids(client, base + "lastmodificationdate_min=2027-01-01T00:00:00Z") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2026-01-02T12:00:00",
            "Give the date-time with its offset, like 2026-11-22T01:02:03+00:00 or ...Z.",
        ),
        ("2026-01-02", "Not a date-time: give one like 2026-11-22T01:02:03+00:00 (in a URL, + is %2B)."),
        (
            "2026-01-02T12:00:00 00:00",
            "Not a date-time: give one like 2026-11-22T01:02:03+00:00 (in a URL, + is %2B).",
        ),
        ("yesterday", "Not a date-time: give one like 2026-11-22T01:02:03+00:00 (in a URL, + is %2B)."),
    ],
    ids=["no offset", "a date alone", "an unencoded plus", "not a date"],
)
def test_a_date_time_without_an_offset_or_not_one_at_all_is_a_400(client, dated, value, message):
    response = client.get(f"/api/{dated}", query_string={"lastmodificationdate_min": value})
    assert response.status_code == 400
    assert response.json["status"] == "failed"
    assert response.json["errors"] == {"lastmodificationdate_min": [message]}


def test_a_minimum_after_its_maximum_is_a_400(client, dated):
    response = client.get(
        f"/api/{dated}?creationdate_min=2026-01-03T00:00:00Z&creationdate_max=2026-01-02T00:00:00Z"
    )
    assert response.status_code == 400
    assert response.json["errors"] == {"creationdate_min": ["Must not be more than creationdate_max."]}
