"""The pages in a real browser: headless Chromium (Debian's) against a live server on 127.0.0.1.

Marked `browser`: `pytest -m browser` runs these alone, `-m "not browser"` leaves them out. Without
chromium and chromedriver they are skipped, unless PHOENIX_REQUIRE_BROWSER=1 (as .ci/run sets), which
makes that a failure. Screenshots go to artifacts/ (git-ignored); `make screenshots` copies the ones
the README shows into docs/.
"""

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from phoenix.models import Record

pytestmark = [
    pytest.mark.browser,
    # What the browser sees does not depend on the database: SQLite is enough.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
# What Chromium needs to run headless as root in a container, and to stay off the network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
WAIT = 30  # seconds; the machine is shared, so be patient rather than flaky


@pytest.fixture
def live_server(app):
    """The app served on 127.0.0.1 on a free port (the OS picks it), in a thread; its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium with a fresh profile, driven by Selenium through Debian's chromedriver."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        message = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        if os.environ.get("PHOENIX_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def wait_for(driver, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition)


def css(driver, selector):
    from selenium.webdriver.common.by import By

    return wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, selector))


def assert_loaded_only_from(driver, base_url):
    """Every file the page loaded came from base_url, and the console shows no error (CSP included)."""
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded
    assert all(url.startswith(base_url + "/") for url in loaded), loaded
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_landing_page_shows_the_quick_start(browser, live_server):
    from selenium.webdriver.common.by import By

    browser.get(live_server + "/")
    assert browser.title.startswith("Phoenix")
    quick_start = css(browser, "#quick-start")
    assert quick_start.find_element(By.TAG_NAME, "h2").text == "Quick start"
    commands = "\n".join(block.text for block in quick_start.find_elements(By.TAG_NAME, "pre"))
    assert f"API={live_server}" in commands
    assert "$API/api/keys" in commands and "$API/api/records/1" in commands
    links = {
        link.text: link.get_attribute("href") for link in browser.find_elements(By.CSS_SELECTOR, "nav a")
    }
    assert links["API reference"] == live_server + "/api/docs"
    assert links["OpenAPI spec"] == live_server + "/api/openapi.json"
    assert_loaded_only_from(browser, live_server)
    browser.set_window_size(1280, 1700)  # tall enough for the quick start
    browser.save_screenshot(str(ARTIFACTS / "landing.png"))

    # On a phone-width screen nothing is wider than the screen: long commands scroll inside their box.
    browser.set_window_size(390, 844)
    browser.get(live_server + "/")
    css(browser, "#quick-start")
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    font_size = browser.execute_script("return parseFloat(getComputedStyle(document.body).fontSize)")
    assert font_size >= 16
    browser.save_screenshot(str(ARTIFACTS / "landing-phone.png"))


def try_it_out(browser, operation_id):
    """Open an operation in Swagger UI, press Try it out and Execute; the status code shown."""
    from selenium.webdriver.common.by import By

    block = css(browser, f"#operations-Records-{operation_id}")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    css(browser, f"#operations-Records-{operation_id} .try-out__btn").click()
    css(browser, f"#operations-Records-{operation_id} .execute").click()
    status = wait_for(
        browser,
        lambda d: d.find_element(
            By.CSS_SELECTOR,
            f"#operations-Records-{operation_id} .live-responses-table tbody .response-col_status",
        ),
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", status)
    return status.text.strip()


def test_swagger_ui_lists_the_operations_and_tries_them_with_a_key(
    browser, live_server, client, api_key, rows
):
    from selenium.webdriver.common.by import By

    spec = client.get("/api/openapi.json").json
    operation_count = sum(
        1
        for item in spec["paths"].values()
        for method in item
        if method in ("get", "put", "post", "patch", "delete")
    )
    browser.get(live_server + "/api/docs")
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) == operation_count)
    paths = {element.text for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/records", "/api/records/{id}", "/api/games", "/api/keys"} <= {
        p.replace("\u200b", "") for p in paths
    }
    assert "Phoenix" in css(browser, ".info .title").text
    browser.save_screenshot(str(ARTIFACTS / "swagger-ui.png"))

    # Authorize with the key, in the api-key header scheme.
    css(browser, "button.authorize").click()
    section = wait_for(
        browser,
        lambda d: next(
            (c for c in d.find_elements(By.CSS_SELECTOR, ".modal-ux .auth-container") if "ApiKey" in c.text),
            None,
        ),
    )
    section.find_element(By.CSS_SELECTOR, "input").send_keys(api_key)
    section.find_element(By.CSS_SELECTOR, "button.authorize").click()
    wait_for(browser, lambda d: "Logout" in section.text)
    css(browser, ".modal-ux button.btn-done").click()

    assert try_it_out(browser, "get_records") == "200"
    assert try_it_out(browser, "post_records") == "201"
    browser.save_screenshot(str(ARTIFACTS / "swagger-ui-try-it-out.png"))
    [record] = rows(Record)
    assert (record.value1, record.lastmodifiedby) == ("Hello", "tester")
    assert_loaded_only_from(browser, live_server)
