"""Headers every answer carries, or must not carry: nosniff, no-store on key answers, Retry-After only
where it means something; and the public base URL that pages show, never taken from an unknown Host."""

from flask import current_app, request

from phoenix.errors import RETRY_AFTER_SECONDS

# Every route whose answers carry or describe a key: no cache or proxy may keep a copy.
KEY_ENDPOINTS = frozenset({"keys", "own_key", "key_rotation", "legacy_generate_key"})
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Where the base URL cannot be trusted, the landing page's curl example shows this instead.
PLACEHOLDER_URL = "http://YOUR-PHOENIX-SERVER"


def harden(response, endpoint):
    """Set the headers of the DESIGN's "Answers say no more than they must" on an answer to a request
    for endpoint (phoenix.hooks calls it last of all, after the extensions' hooks, Flask-Limiter's)."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    if endpoint in KEY_ENDPOINTS:
        headers.update(NO_STORE)
    if response.status_code == 503:
        # The seconds to wait for the database, whatever a rate limit's window would say.
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    elif response.status_code != 429 and headers.getlist("Retry-After"):
        # Flask-Limiter adds its window to every answer of a limited route: on a 200 it means nothing.
        # (getlist: a miss of get, pop or `in` raises and catches an exception inside werkzeug.)
        del headers["Retry-After"]


def public_base_url():
    """The base URL to show in pages: PHOENIX_PUBLIC_URL, else the request's own when its host is among
    PHOENIX_ALLOWED_HOSTS, else a placeholder: a Host header sent by a client is never echoed blindly."""
    configured = current_app.config["PHOENIX_PUBLIC_URL"]
    if configured:
        return configured
    host = request.host.lower()
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    allowed = current_app.config["PHOENIX_ALLOWED_HOSTS"]
    if host in allowed or hostname in allowed:
        return request.url_root.rstrip("/")
    return PLACEHOLDER_URL
