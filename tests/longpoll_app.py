"""Phoenix with one more route, for tests/test_server.py: GET /test/wait?seconds=N, a stand-in for the changes
feed's long poll (issue 11). It polls the database every 200 ms until the time is up, holding a pooled
connection only for each poll, and answers how many polls it made."""

import time

from flask import request
from sqlalchemy import text

from phoenix import create_app
from phoenix.extensions import db

app = create_app()


@app.get("/test/wait")
def wait():
    """Poll the record table every 200 ms for `seconds`."""
    deadline = time.monotonic() + float(request.args.get("seconds", "5"))
    polls = 0
    while time.monotonic() < deadline:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM record")).scalar()
        polls += 1
        time.sleep(0.2)  # gevent's sleep under the worker: the greenlet yields, the connection is back
    return {"status": "success", "polls": polls}
