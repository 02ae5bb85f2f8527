"""/health/ready: the database checked (503 database_unavailable when down), Redis reported when limits use it."""

import pytest

from bench.servers import free_port
from phoenix import create_app


def ready(db_url, **config):
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, **config})
    return app.test_client().get("/health/ready")


def test_ready_with_in_memory_limits_reports_the_database_only(db_url):
    response = ready(db_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    assert response.status_code == 200
    assert response.json == {"status": "success", "message": "Phoenix is ready.", "database": "ok"}


def test_ready_reports_the_redis_of_the_limits(db_url, redis_url, redis_prefix):
    response = ready(
        db_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_KEY_PREFIX=redis_prefix
    )
    assert response.status_code == 200
    assert response.json == {
        "status": "success",
        "message": "Phoenix is ready.",
        "database": "ok",
        "redis": "ok",
    }


def test_a_redis_down_is_reported_but_the_instance_stays_ready(db_url):
    """The limits fail open while Redis is away: requests are still served, so the instance is ready."""
    response = ready(db_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}")
    assert response.status_code == 200
    assert response.json["redis"] == "unavailable"
    assert response.json["database"] == "ok"


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_database_down_is_503_database_unavailable(database):
    unreachable = {
        "sqlite": "sqlite:////nonexistent-folder/phoenix.sqlite3",
        "postgresql": f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/nothing",
    }[database]
    response = ready(unreachable)
    assert response.status_code == 503
    assert response.json["code"] == "database_unavailable"
    assert response.json["request_id"] == response.headers["X-Request-ID"]
    assert int(response.headers["Retry-After"]) > 0
