"""Phoenix with two more routes, for tests/test_server.py.

GET /test/wait?seconds=N, a stand-in for the changes feed's long poll: it polls the database every 200 ms
until the time is up, holding a pooled connection only for each poll and setting its worker's turn aside
between polls (as the feed does), and answers how many polls it made.

GET /test/busy?seconds=N: works (sleeps, yielding) for N seconds and answers the most requests this
worker process has had in their handlers at once.
"""

import time

from flask import request
from sqlalchemy import text

from phoenix import create_app, turns
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
        with turns.set_aside():
            time.sleep(0.2)  # gevent's sleep under the worker: the greenlet yields, the connection is back
    return {"status": "success", "polls": polls}


HANDLING = {"now": 0, "most": 0}


@app.get("/test/busy")
def busy():
    """Be one of the requests in a handler for `seconds`; answer the most there have been at once."""
    HANDLING["now"] += 1
    HANDLING["most"] = max(HANDLING["most"], HANDLING["now"])
    try:
        time.sleep(float(request.args.get("seconds", "0.2")))
    finally:
        HANDLING["now"] -= 1
    return {"status": "success", "most": HANDLING["most"]}
