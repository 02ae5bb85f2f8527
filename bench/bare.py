"""The bare Flask app that Phoenix is measured against: no database, no validation, no framework on top.

GET on any path answers a constant JSON object of a record's size; POST echoes a small JSON body.
"""

from flask import Flask, request

app = Flask(__name__)

RECORD = {
    "status": "success",
    "record": {
        "id": 123456,
        "timestamp": 1731234567.891,
        "value1": "greenhouse temperature ok",
        "value2": 21.437,
        "value3": True,
        "creationdate": "2026-11-22T01:02:03.456789+00:00",
        "lastmodificationdate": "2026-11-22T01:02:03.456789+00:00",
        "lastmodifiedby": "bench",
    },
}


@app.get("/", defaults={"path": ""})
@app.get("/<path:path>")
def constant(path):
    return RECORD


@app.post("/", defaults={"path": ""})
@app.post("/<path:path>")
def echo(path):
    return request.get_json(), 201
