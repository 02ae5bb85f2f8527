"""The pages: the landing page at /, Swagger UI at /api/docs, and the files they load, all from here."""

import re

import pytest
from swagger_ui_bundle import swagger_ui_path

from phoenix.resources.docs import CONTENT_SECURITY_POLICY, SWAGGER_UI_FILES

# What the HTML of a page links to or loads.
REFERENCE = re.compile(r"""(?:src|href)="([^"]*)\"""")


def test_landing_page_explains_phoenix_and_gives_the_quick_start(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<title>Phoenix" in page
    assert "Quick start" in page
    # The quick start is written for the server that shows it.
    assert "API=http://localhost\n" in page
    assert "$API/api/keys" in page
    assert "-X POST $API/api/records" in page
    assert "curl -s $API/api/records/1" in page
    for plural, fields in (
        ("records", ("timestamp", "value1", "value2", "value3")),
        ("games", ("name", "year")),
    ):
        assert f"<code>/api/{plural}</code>" in page
        for name in fields:
            assert f"<code>{name}</code>" in page
    assert 'href="/api/docs"' in page
    assert 'href="/api/openapi.json"' in page


@pytest.mark.parametrize("app_config", [{"PHOENIX_ALLOWED_HOSTS": ["phoenix.example.org"]}])
def test_quick_start_follows_the_host_that_is_asked_when_it_is_allowed(client):
    page = client.get("/", base_url="https://phoenix.example.org").get_data(as_text=True)
    assert "API=https://phoenix.example.org\n" in page


def test_docs_page_runs_swagger_ui_from_local_files_on_our_spec(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'data-spec-url="/api/openapi.json"' in page
    loaded = REFERENCE.findall(page)
    assert "/api/docs/swagger-ui-bundle.js" in loaded
    assert "/api/docs/swagger-ui.css" in loaded
    assert "/static/swagger-initializer.js" in loaded


@pytest.mark.parametrize("url", ["/", "/api/docs"])
def test_pages_load_nothing_from_elsewhere(client, url):
    response = client.get(url)
    for reference in REFERENCE.findall(response.get_data(as_text=True)):
        assert reference.startswith("/") and not reference.startswith("//"), reference
        assert client.get(reference).status_code == 200, reference
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_swagger_initializer_turns_off_the_online_validator(client):
    script = client.get("/static/swagger-initializer.js").get_data(as_text=True)
    assert "validatorUrl: null" in script
    assert "http" not in script


@pytest.mark.parametrize("name", sorted(SWAGGER_UI_FILES))
def test_swagger_ui_files_come_from_the_package(client, name):
    response = client.get(f"/api/docs/{name}")
    assert response.status_code == 200
    assert response.get_data() == (swagger_ui_path / name).read_bytes()


@pytest.mark.parametrize(
    "url",
    [
        # The package's own start page and start-up script would load the Petstore demo from the internet.
        "/api/docs/index.html",
        "/api/docs/swagger-initializer.js",
        "/api/docs/..%2F__init__.py",
        "/static/nothing.css",
        "/static/..%2Fopenapi.py",
    ],
)
def test_other_files_are_a_json_404(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert response.json == {
        "status": "failed",
        "message": "There is nothing at this URL. The routes are listed in the README and at /api/docs.",
        "code": "not_found",
        "request_id": response.headers["X-Request-ID"],
    }


def test_stylesheet_is_served(client):
    response = client.get("/static/phoenix.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"


@pytest.mark.parametrize("url", ["/", "/api/docs"])
def test_a_wrong_method_on_a_page_is_still_json(client, url):
    response = client.post(url)
    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert response.json["status"] == "failed"
