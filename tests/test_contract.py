"""The contract: schemathesis writes requests from /api/openapi.json and holds every answer to it.

In process (the WSGI app, no server), for every operation of the spec, with positive data (what the
spec allows) and negative data (what it refuses), signed with a valid key, on SQLite and PostgreSQL.
Deterministic (derandomized), and bounded so that the run takes a minute or two. The generated requests
carry the documented headers too: If-Match and If-None-Match (so 412s and 304s), Idempotency-Key (so
replays and 422s), and arrays for the bulk creates.

Rate limits are off here, as the app fixture has them unless app_config turns them on (thousands of
requests from one client would otherwise be mostly 429s); the 429s, and the 503s of a database outage,
are held to the spec in tests/test_openapi_conformance.py.

Not checked: that every request the spec allows succeeds (positive_data_acceptance). Some cannot: the
Project Phoenix "forgot the number" routes only ever answer 400, a cursor is any string to the spec but
only one that a page gave out to the API, an If-Match that names another version is a 412, and an
Idempotency-Key used before with another body is a 422.
"""

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from phoenix import create_app
from phoenix.resources.games import EXAMPLE as GAME
from phoenix.resources.records import EXAMPLE as RECORD

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # What the spec refuses, the API refuses too (4xx): the spec is no stricter than the code.
    negative_data_rejection,
]
EXAMPLES_PER_OPERATION = 100
SEEDED = 3


# The spec does not depend on the database: read it from an app of its own at collection time, so that
# schemathesis makes one test per operation; each test then calls the fixture's app (SQLite, PostgreSQL).
schema = schemathesis.openapi.from_wsgi(
    "/api/openapi.json", create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES_PER_OPERATION,
    deterministic=True,
)


@pytest.fixture
def seeded(client, auth):
    """A few records and games, for the item routes to find."""
    for _ in range(SEEDED):
        assert client.post("/api/records", json=RECORD, headers=auth).status_code == 201
        assert client.post("/api/games", json=GAME, headers=auth).status_code == 201


@pytest.fixture
def signer(auth, make_key):
    """The headers that sign a case: the fixture's key; a fresh one for each request to /api/keys/me
    and its rotation, which end the key that signs them (else all but the first would test a dead key)."""
    made = itertools.count()

    def headers(case):
        key = make_key(f"signer-{next(made)}") if case.path.startswith("/api/keys/me") else auth["api-key"]
        # Both schemes carry the same key: two different keys in one request are a 400 of their own.
        return {"api-key": key, "Authorization": f"Bearer {key}"}

    return headers


@schema.parametrize()
# One app (and database) per operation, shared by its examples: the data they write is meant to pile up.
# No deadline: the machine is shared, and speed is not what this test is about.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_every_operation_keeps_the_contract(case, app, signer, seeded):
    case.call_and_validate(app=app, headers=signer(case), checks=CHECKS)
