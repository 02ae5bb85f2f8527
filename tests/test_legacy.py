"""The Project Phoenix README, followed step by step: same paths and messages, honest status codes."""

import pytest
import sqlalchemy as sa

from phoenix.extensions import db
from phoenix.models import Record, utcnow

FORGOT_NUMBER = "Oops! You forgot to add a number after! Please specify a number and try again!"
NOT_FOUND = "The record does not exist! Please try a different record number!"
NOT_A_NUMBER = "The record number must be a whole number, like /api/read/5."


@pytest.fixture
def sumit(client):
    response = client.get("/api/generate_key/sumit")
    assert response.status_code == 201
    return {"api-key": response.json["api_key"], "Content-Type": "application/json"}


def test_the_readme_walkthrough(client, sumit, make_key, rows):
    created = client.post(
        "/api/create",
        json={"timestamp": 6789998212, "value1": "Hello", "value2": 2021.01, "value3": True},
        headers=sumit,
    )
    assert created.status_code == 201
    assert created.json["status"] == "success"
    assert created.json["message"] == "Your entry has successfully been added to the database!"
    info = created.json["record_info"]
    assert isinstance(info, dict)
    assert (info["id"], info["value1"], info["lastmodifiedby"]) == (1, "Hello", "sumit")

    listed = client.get("/api/list")
    assert listed.status_code == 200
    assert listed.json == [info]

    read = client.get("/api/read/1")
    assert read.status_code == 200
    assert read.json == {"status": "success", "message": "Record found!", "record_info": info}

    falcon = {"api-key": make_key("falcon")}
    modified = client.patch(
        "/api/modify/1", json={"value1": "Yes I think I won't....", "value3": False}, headers=falcon
    )
    assert modified.status_code == 200
    assert modified.json["message"] == "Your record has successfully been modified!"
    assert modified.json["record_info"]["lastmodifiedby"] == "falcon"
    assert modified.json["record_info"]["value2"] == 2021.01
    assert (rows(Record)[0].value1, rows(Record)[0].lastmodifiedby) == ("Yes I think I won't....", "falcon")

    removed = client.delete("/api/remove/1", headers=sumit)
    assert removed.status_code == 200
    assert removed.json == {"status": "success", "message": "Your record has been removed!"}
    assert rows(Record) == []


@pytest.mark.parametrize("url", ["/api/generate_key/", "/api/generate_key"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_generate_key_without_username_is_400(client, url, method):
    response = getattr(client, method)(url)
    assert response.status_code == 400
    assert response.json == {
        "status": "failed",
        "message": "Oops! You forgot to add a username after! Please specify a username and try again!",
        "code": "missing_username",
        "request_id": response.headers["X-Request-ID"],
    }


def test_create_with_no_field_is_400(client, sumit, rows):
    for body in ({}, {"value1": None}):
        response = client.post("/api/create", json=body, headers=sumit)
        assert response.status_code == 400
        assert response.json["message"] == "Please populate atleast one field into the record and try again!"
    assert rows(Record) == []


@pytest.mark.parametrize(
    ("method", "url"), [("post", "/api/create"), ("patch", "/api/modify/1"), ("delete", "/api/remove/1")]
)
@pytest.mark.parametrize("key", [None, "1S-37823MlH3stph2uTYvA"])
def test_writes_without_a_valid_key_are_401(client, sumit, rows, method, url, key):
    client.post("/api/create", json={"value1": "keep"}, headers=sumit)
    headers = {"api-key": key} if key else {}
    response = getattr(client, method)(url, json={"value1": "changed"}, headers=headers)
    assert response.status_code == 401
    assert response.json == {
        "status": "failed",
        "message": "You are not authenticated! Please add an authentication key to the header and try again!",
        "code": "not_authenticated",
        "request_id": response.headers["X-Request-ID"],
    }
    assert [r.value1 for r in rows(Record)] == ["keep"]


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", "/api/read/"), ("get", "/api/read"), ("patch", "/api/modify/"), ("delete", "/api/remove/")],
)
def test_missing_number_is_400(client, sumit, method, url):
    response = getattr(client, method)(url, json={"value1": "x"}, headers=sumit)
    assert response.status_code == 400
    assert response.json == {
        "status": "failed",
        "message": FORGOT_NUMBER,
        "code": "missing_number",
        "request_id": response.headers["X-Request-ID"],
    }


@pytest.mark.parametrize(
    ("method", "url"), [("get", "/api/read/9"), ("patch", "/api/modify/9"), ("delete", "/api/remove/9")]
)
def test_missing_record_is_404(client, sumit, method, url):
    response = getattr(client, method)(url, json={"value1": "x"}, headers=sumit)
    assert response.status_code == 404
    assert response.json == {
        "status": "failed",
        "message": NOT_FOUND,
        "code": "not_found",
        "request_id": response.headers["X-Request-ID"],
    }


@pytest.mark.parametrize(
    ("method", "url"), [("get", "/api/read/five"), ("patch", "/api/modify/5.0"), ("delete", "/api/remove/-5")]
)
def test_non_integer_number_is_400(client, sumit, method, url):
    response = getattr(client, method)(url, json={"value1": "x"}, headers=sumit)
    assert response.status_code == 400
    assert response.json == {
        "status": "failed",
        "message": NOT_A_NUMBER,
        "code": "invalid_id",
        "request_id": response.headers["X-Request-ID"],
        "errors": {"id": ["Not a valid integer."]},
    }


def test_the_common_mistake_delete_instead_of_remove_is_a_json_404(client, sumit):
    response = client.delete("/api/delete/1", headers=sumit)
    assert response.status_code == 404
    assert response.json["status"] == "failed"


def test_list_pages_at_1000_with_a_link_header(app, client):
    now = utcnow()
    with app.app_context():
        db.session.execute(
            sa.insert(Record),
            [
                {
                    "value2": float(n),
                    "creationdate": now,
                    "lastmodificationdate": now,
                    "lastmodifiedby": "bulk",
                }
                for n in range(1001)
            ],
        )
        db.session.commit()
    first = client.get("/api/list")
    assert first.status_code == 200
    assert len(first.json) == 1000
    assert [r["id"] for r in first.json] == list(range(1, 1001))
    link = first.headers["Link"]
    assert link.endswith('; rel="next"')
    second = client.get(link[1 : link.index(">")])
    assert [r["id"] for r in second.json] == [1001]
    assert "Link" not in second.headers
