"""Every kind of bad input, on every write route: 400/413/415 in our shape, and nothing written."""

import pytest

from phoenix.models import AuthenticationKey, Game, Record

RECORD = {"value1": "seed"}
GAME = {"name": "Doom", "platform": "PC", "publisher": "id", "genre": "Shooter", "year": 1993}

# (method, url, a valid body): the routes that take a JSON body.
RECORD_WRITES = [
    ("post", "/api/records", RECORD),
    ("put", "/api/records/1", RECORD),
    ("patch", "/api/records/1", RECORD),
    ("post", "/api/create", RECORD),
    ("patch", "/api/modify/1", RECORD),
]
GAME_WRITES = [
    ("post", "/api/games", GAME),
    ("put", "/api/games/1", GAME),
    ("patch", "/api/games/1", GAME),
]
KEY_WRITES = [("post", "/api/keys", {"username": "newcomer"})]
ALL_WRITES = RECORD_WRITES + GAME_WRITES + KEY_WRITES
BULK_ROUTES = {("post", "/api/records"), ("post", "/api/games")}  # these take an array too


@pytest.fixture
def seeded(client, auth, rows):
    """One record and one game to write over; returns a snapshot function of the database."""
    assert client.post("/api/records", json=RECORD, headers=auth).status_code == 201
    assert client.post("/api/games", json=GAME, headers=auth).status_code == 201

    def snapshot():
        return [
            [(r.id, r.timestamp, r.value1, r.value2, r.value3, r.lastmodificationdate) for r in rows(Record)],
            [
                (g.id, g.name, g.platform, g.publisher, g.genre, g.year, g.lastmodificationdate)
                for g in rows(Game)
            ],
            [k.username for k in rows(AuthenticationKey)],
        ]

    return snapshot


def send(client, auth, method, url, **kwargs):
    return getattr(client, method)(url, headers=auth, **kwargs)


def assert_failed(response, status, seeded, before):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.json["status"] == "failed"
    assert isinstance(response.json["message"], str) and response.json["message"]
    assert seeded() == before


ids = [f"{method.upper()} {url}" for method, url, _ in ALL_WRITES]


@pytest.mark.parametrize(("method", "url", "body"), ALL_WRITES, ids=ids)
def test_malformed_json_is_400(client, auth, seeded, method, url, body):
    before = seeded()
    response = send(client, auth, method, url, data='{"value1": "x",', content_type="application/json")
    assert_failed(response, 400, seeded, before)
    assert "not valid JSON" in response.json["message"]


@pytest.mark.parametrize(("method", "url", "body"), ALL_WRITES, ids=ids)
@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_400(client, auth, seeded, method, url, body, raw):
    before = seeded()
    response = send(client, auth, method, url, data=raw, content_type="application/json")
    assert_failed(response, 400, seeded, before)
    if (method, url) not in BULK_ROUTES:
        assert response.json["message"] == "The request body must be a JSON object."
    elif raw == "[]":
        assert response.json["message"] == "Send from 1 to 1000 items in one array."
    else:
        assert response.json["message"] == "The request body must be a JSON object or an array of objects."


@pytest.mark.parametrize(("method", "url", "body"), ALL_WRITES, ids=ids)
def test_empty_body_is_400(client, auth, seeded, method, url, body):
    before = seeded()
    response = send(client, auth, method, url, data="", content_type="application/json")
    assert_failed(response, 400, seeded, before)
    assert response.json["message"] == "The request body is empty: send a JSON object."


@pytest.mark.parametrize(("method", "url", "body"), ALL_WRITES, ids=ids)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_body_that_is_not_json_is_415(client, auth, seeded, method, url, body, content_type):
    before = seeded()
    response = send(client, auth, method, url, data='{"value1": "x"}', content_type=content_type)
    assert_failed(response, 415, seeded, before)


@pytest.mark.parametrize(("method", "url", "body"), ALL_WRITES, ids=ids)
def test_body_over_one_mebibyte_is_413(client, auth, seeded, method, url, body):
    before = seeded()
    huge = '{"value1": "' + "x" * (1024 * 1024) + '"}'
    response = send(client, auth, method, url, data=huge, content_type="application/json")
    assert_failed(response, 413, seeded, before)
    assert "1048576 bytes" in response.json["message"]


@pytest.mark.parametrize(("method", "url", "body"), ALL_WRITES, ids=ids)
def test_unknown_field_is_400_naming_it(client, auth, seeded, method, url, body):
    before = seeded()
    response = send(client, auth, method, url, json={**body, "colour": "red"})
    assert_failed(response, 400, seeded, before)
    assert response.json["errors"] == {"colour": ["Unknown field."]}


@pytest.mark.parametrize(("method", "url", "body"), RECORD_WRITES + GAME_WRITES, ids=ids[:-1])
@pytest.mark.parametrize("field", ["id", "creationdate", "lastmodificationdate", "lastmodifiedby"])
def test_read_only_field_is_400_naming_it(client, auth, seeded, method, url, body, field):
    before = seeded()
    response = send(client, auth, method, url, json={**body, field: "2020-01-01T00:00:00+00:00"})
    assert_failed(response, 400, seeded, before)
    assert response.json["errors"] == {field: ["Read-only field: the server sets it."]}


@pytest.mark.parametrize(("method", "url", "body"), ALL_WRITES, ids=ids)
def test_nul_character_is_400(client, auth, seeded, method, url, body):
    before = seeded()
    field = next(name for name, value in body.items() if isinstance(value, str))
    response = send(client, auth, method, url, json={**body, field: "a\x00b"})
    assert_failed(response, 400, seeded, before)
    assert field in response.json["errors"]


@pytest.mark.parametrize(("method", "url", "body"), RECORD_WRITES, ids=ids[: len(RECORD_WRITES)])
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timestamp", "828283281.21", "Not a valid number."),
        ("value2", "1920.02", "Not a valid number."),
        ("timestamp", True, "Not a valid number."),
        ("value2", False, "Not a valid number."),
        ("value2", [1], "Not a valid number."),
        ("value1", 12, "Not a valid string."),
        ("value1", "x" * 256, "Longer than maximum length 255."),
        ("value3", "true", "Not a valid boolean."),
        ("value3", 1, "Not a valid boolean."),
    ],
)
def test_record_field_of_wrong_type_or_size_is_400(
    client, auth, seeded, method, url, body, field, value, message
):
    before = seeded()
    response = send(client, auth, method, url, json={field: value})
    assert_failed(response, 400, seeded, before)
    assert response.json["errors"] == {field: [message]}


@pytest.mark.parametrize(("method", "url", "body"), RECORD_WRITES, ids=ids[: len(RECORD_WRITES)])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinity_are_400(client, auth, seeded, method, url, body, literal):
    before = seeded()
    response = send(
        client, auth, method, url, data=f'{{"value2": {literal}}}', content_type="application/json"
    )
    assert_failed(response, 400, seeded, before)


@pytest.mark.parametrize(("method", "url", "body"), ALL_WRITES, ids=ids)
def test_invalid_utf8_and_lone_surrogates_are_400(client, auth, seeded, method, url, body):
    before = seeded()
    for raw in (b'{"value1": "\xff"}', b'{"value1": "\\ud800"}'):
        response = send(client, auth, method, url, data=raw, content_type="application/json")
        assert_failed(response, 400, seeded, before)


def test_valid_bodies_above_are_accepted(client, auth, seeded):
    """The bad-input tests change one thing in these bodies: the bodies themselves must pass."""
    for method, url, body in ALL_WRITES:
        response = send(client, auth, method, url, json=body)
        assert response.status_code in (200, 201), (method, url, response.json)
