"""Housekeeping: expired idempotent answers go in bounded batches, by themselves and with `flask housekeeping`."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from phoenix.extensions import db
from phoenix.housekeeping import BATCH
from phoenix.models import IdempotentRequest, Record, utcnow


@pytest.fixture
def app_config(db_url):
    return {"PHOENIX_HOUSEKEEPING_INTERVAL_S": 0}  # every storing request sweeps, for the test


def create(client, auth, key, value="x"):
    response = client.post("/api/records", json={"value1": value}, headers={**auth, "Idempotency-Key": key})
    assert response.status_code == 201, response.json
    return response


def age_all_answers(app, hours=25):
    """Make every stored answer older than its 24 hours."""
    with app.app_context():
        db.session.execute(update(IdempotentRequest).values(created_at=utcnow() - timedelta(hours=hours)))
        db.session.commit()


def stored_answers(app):
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(IdempotentRequest)).scalar_one()


def test_the_table_stays_bounded_without_an_operator(app, client, auth, rows):
    for day in range(3):  # three "days" of creates, each with its own keys
        for n in range(20):
            create(client, auth, f"day{day}-{n}")
        assert stored_answers(app) == 20  # only today's: the previous day's were swept
        age_all_answers(app)
    create(client, auth, "today")
    assert stored_answers(app) == 1
    assert len(rows(Record)) == 61  # the items themselves stay


def test_an_answer_within_its_24_hours_is_kept_and_still_replays(app, client, auth, rows):
    create(client, auth, "young")
    age_all_answers(app, hours=23)
    create(client, auth, "other")
    assert stored_answers(app) == 2
    replay = create(client, auth, "young")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(rows(Record)) == 2


def test_a_sweep_deletes_at_most_one_batch(app, client, auth):
    with app.app_context():
        old = utcnow() - timedelta(days=2)
        db.session.execute(
            IdempotentRequest.__table__.insert(),
            [
                {"key_id": 1, "idempotency_key": f"k{n}", "fingerprint": "f", "status": 201, "body": "{}",
                 "created_at": old}
                for n in range(BATCH + 30)
            ],
        )  # fmt: skip
        db.session.commit()
    create(client, auth, "new")
    assert stored_answers(app) == 30 + 1


def test_sweeps_wait_for_the_interval(app, client, auth):
    app.config["PHOENIX_HOUSEKEEPING_INTERVAL_S"] = 3600
    create(client, auth, "first")  # sweeps (the first time), then not for an hour
    age_all_answers(app)
    create(client, auth, "second")
    assert stored_answers(app) == 2


def test_flask_housekeeping_deletes_every_expired_answer(app, client, auth, runner):
    app.config["PHOENIX_HOUSEKEEPING_INTERVAL_S"] = 3600
    for n in range(3):
        create(client, auth, f"k{n}")
    age_all_answers(app)
    create(client, auth, "fresh")
    result = runner.invoke(args=["housekeeping"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Deleted 3 expired idempotent answers."
    assert stored_answers(app) == 1
