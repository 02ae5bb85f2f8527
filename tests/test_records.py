"""/api/records: create, read, list, replace, change, remove; stamping with the key's username."""

from datetime import UTC, datetime

from phoenix.models import Record
from tests.fixtures.apps import RECORD


def test_create_is_201_with_location_and_stored(client, auth, rows):
    response = client.post("/api/records", json=RECORD, headers=auth)
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/records/1"
    record = response.json["record"]
    assert response.json["status"] == "success"
    assert {name: record[name] for name in RECORD} == RECORD
    assert record["id"] == 1
    assert record["lastmodifiedby"] == "tester"
    [stored] = rows(Record)
    assert (stored.timestamp, stored.value1, stored.value2, stored.value3) == tuple(RECORD.values())
    assert stored.lastmodifiedby == "tester"
    assert stored.creationdate == stored.lastmodificationdate


def test_create_with_one_field_leaves_the_others_null(client, auth, rows, actions):
    record = actions.create_record({"value3": False})
    assert (record["timestamp"], record["value1"], record["value2"], record["value3"]) == (
        None,
        None,
        None,
        False,
    )
    assert rows(Record)[0].value3 is False


def test_dates_are_iso_8601_utc_with_offset(client, auth, actions):
    record = actions.create_record()
    for name in ("creationdate", "lastmodificationdate"):
        assert record[name].endswith("+00:00")
        parsed = datetime.fromisoformat(record[name])
        assert abs((datetime.now(UTC) - parsed).total_seconds()) < 60


def test_create_without_key_is_401_and_writes_nothing(client, rows):
    response = client.post("/api/records", json=RECORD)
    assert response.status_code == 401
    assert response.json == {
        "status": "failed",
        "message": "You are not authenticated! Please add an authentication key to the header and try again!",
        "code": "not_authenticated",
        "request_id": response.headers["X-Request-ID"],
    }
    assert rows(Record) == []


def test_create_with_unknown_key_is_401(client, api_key, rows):
    response = client.post("/api/records", json=RECORD, headers={"api-key": api_key + "x"})
    assert response.status_code == 401
    assert response.json["status"] == "failed"
    assert rows(Record) == []


def test_bearer_authorization_is_accepted(client, api_key, rows):
    response = client.post("/api/records", json=RECORD, headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 201
    assert rows(Record)[0].lastmodifiedby == "tester"


def test_get_one(client, auth, actions):
    created = actions.create_record()
    response = client.get("/api/records/1")
    assert response.status_code == 200
    assert response.json == {"status": "success", "record": created}


def test_get_missing_is_404(client):
    response = client.get("/api/records/42")
    assert response.status_code == 404
    assert response.json == {
        "status": "failed",
        "message": "The record does not exist! Please try a different record number!",
        "code": "not_found",
        "request_id": response.headers["X-Request-ID"],
    }


def test_get_non_integer_id_is_400(client):
    for bad in ("abc", "1.5", "-1", "1e3", "%20"):
        response = client.get(f"/api/records/{bad}")
        assert response.status_code == 400, bad
        assert response.json["errors"] == {"id": ["Not a valid integer."]}


def test_get_id_beyond_any_stored_is_404_not_500(client):
    assert client.get("/api/records/99999999999999999999999").status_code == 404


def test_get_id_with_thousands_of_digits_is_404_not_500(client):
    # int() refuses to read more than 4300 digits: such an id must not reach it.
    response = client.get("/api/records/" + "9" * 5000)
    assert response.status_code == 404
    assert response.json["message"] == "The record does not exist! Please try a different record number!"


def test_list_is_ordered_by_id_and_paged(client, auth, actions):
    for n in range(5):
        actions.create_record({"value2": float(n)})
    first = client.get("/api/records?limit=2")
    assert first.status_code == 200
    assert [r["value2"] for r in first.json["records"]] == [0.0, 1.0]
    assert first.json["next_cursor"]
    assert first.json["links"]["next"] in first.headers["Link"]
    seen = [r["id"] for r in first.json["records"]]
    url = first.json["links"]["next"]
    while url:
        page = client.get(url)
        seen += [r["id"] for r in page.json["records"]]
        url = page.json["links"]["next"]
    assert seen == [1, 2, 3, 4, 5]


def test_list_empty(client):
    response = client.get("/api/records")
    assert response.json == {"status": "success", "records": [], "next_cursor": None, "links": {"next": None}}
    assert "Link" not in response.headers


def test_list_limit_out_of_range_is_400(client):
    for bad in ("0", "501", "x", "-1"):
        response = client.get(f"/api/records?limit={bad}")
        assert response.status_code == 400, bad
        assert "limit" in response.json["errors"]


def test_list_limit_in_other_digits_is_400_not_500(client):
    # str.isdigit() says yes to "²" and "٣", which int() cannot read or reads as another number.
    for bad in ("\u00b2", "\u0663", "\uff15", "9" * 5000):
        response = client.get("/api/records", query_string={"limit": bad})
        assert response.status_code == 400, bad
        assert response.json["errors"] == {"limit": ["Must be a whole number from 1 to 500."]}


def test_list_cursor_that_no_page_gave_is_400_not_500(client, auth, actions):
    actions.create_record()
    for bad in ("\u00b2", "\u0663", "2147483648", "99999999999999999999999", "9" * 5000, "-1", ""):
        response = client.get("/api/records", query_string={"cursor": bad})
        assert response.status_code == 400, bad
        assert response.json["status"] == "failed"
        assert list(response.json["errors"]) == ["cursor"]


def test_list_limit_with_leading_zeros_is_read_as_the_number(client, auth, actions):
    for _ in range(3):
        actions.create_record()
    response = client.get("/api/records", query_string={"limit": "0002"})
    assert response.status_code == 200
    assert [record["id"] for record in response.json["records"]] == [1, 2]


def test_list_unknown_parameter_is_400(client):
    response = client.get("/api/records?colour=red")
    assert response.status_code == 400
    assert response.json["errors"] == {"colour": ["Unknown parameter."]}


def test_put_replaces_every_field(client, auth, rows, actions):
    actions.create_record()
    response = client.put("/api/records/1", json={"value1": "only this"}, headers=auth)
    assert response.status_code == 200
    record = response.json["record"]
    assert (record["timestamp"], record["value1"], record["value2"], record["value3"]) == (
        None,
        "only this",
        None,
        None,
    )
    [stored] = rows(Record)
    assert (stored.timestamp, stored.value1, stored.value2, stored.value3) == (None, "only this", None, None)


def test_put_needs_a_value(client, auth, rows, actions):
    actions.create_record()
    response = client.put("/api/records/1", json={}, headers=auth)
    assert response.status_code == 400
    assert rows(Record)[0].value1 == RECORD["value1"]


def test_patch_changes_only_what_is_sent(client, auth, rows, actions):
    created = actions.create_record()
    response = client.patch("/api/records/1", json={"value2": 1920.02, "value1": None}, headers=auth)
    assert response.status_code == 200
    record = response.json["record"]
    assert record["value2"] == 1920.02
    assert record["value1"] is None
    assert record["value3"] is True
    assert record["creationdate"] == created["creationdate"]
    assert record["lastmodificationdate"] > created["lastmodificationdate"]
    [stored] = rows(Record)
    assert (stored.value1, stored.value2, stored.value3) == (None, 1920.02, True)


def test_patch_with_no_field_is_400(client, auth, rows, actions):
    actions.create_record()
    response = client.patch("/api/records/1", json={}, headers=auth)
    assert response.status_code == 400
    assert response.json["message"] == "Send at least one field to change."
    assert rows(Record)[0].value1 == RECORD["value1"]


def test_patch_by_a_second_user_restamps_lastmodifiedby(client, auth, make_key, rows, actions):
    actions.create_record()
    falcon = make_key("falcon")
    response = client.patch("/api/records/1", json={"value1": "Yes"}, headers={"api-key": falcon})
    assert response.json["record"]["lastmodifiedby"] == "falcon"
    assert rows(Record)[0].lastmodifiedby == "falcon"


def test_write_on_missing_record_is_404(client, auth):
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)("/api/records/7", json={"value1": "x"}, headers=auth)
        assert response.status_code == 404, method


def test_item_writes_need_a_key(client, auth, rows, actions):
    actions.create_record()
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)("/api/records/1", json={"value1": "x"})
        assert response.status_code == 401, method
    assert rows(Record)[0].value1 == RECORD["value1"]


def test_delete_removes_and_ids_are_not_reused(client, auth, rows, actions):
    actions.create_record()
    response = client.delete("/api/records/1", headers=auth)
    assert response.status_code == 200
    assert response.json["status"] == "success"
    assert response.json["record"]["id"] == 1
    assert rows(Record) == []
    assert client.get("/api/records/1").status_code == 404
    assert actions.create_record()["id"] == 2


def test_numbers_come_back_as_the_same_json_type_from_every_route(client, auth):
    """A whole number sent for a float field is stored as a float, and every answer shows it as one."""
    created = client.post("/api/records", json={"timestamp": 6789998212, "value2": 3}, headers=auth)
    bulk = client.post("/api/records", json=[{"timestamp": 6789998212, "value2": 3}], headers=auth)
    answers = [
        created.get_data(as_text=True),
        bulk.get_data(as_text=True),
        client.get("/api/records/1").get_data(as_text=True),
        client.get("/api/records").get_data(as_text=True),
        client.get("/api/list").get_data(as_text=True),
    ]
    for text in answers:
        assert '"timestamp":6789998212.0' in text, text
        assert '"value2":3.0' in text, text
