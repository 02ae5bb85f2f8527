"""One JSON request to a live server (real gunicorn on a socket), for the tests that drive one."""

import json
import urllib.error
import urllib.request


def request_json(base, method, path, key=None, body=None, headers=None, timeout=30):
    """(status, headers, JSON body) of one request to base; key signs it (api-key), body goes as JSON."""
    headers = {**({"api-key": key} if key else {}), **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"null")


def call(base, method, path, key=None, body=None, timeout=30):
    """(status, JSON body) of one request: request_json without the headers."""
    status, _, answer = request_json(base, method, path, key, body, timeout=timeout)
    return status, answer
