"""The work around every request: one hook before its handler, one after, each calling the concerns in order.

Each concern lives in its own module: the write's body read first (database), the timer and the counts
(metrics), the request's id (request_ids), the headers every answer carries (security), the access
line's fields (logs), the sweep of expired idempotent answers (housekeeping). They were seven hooks, and
Flask dispatches each for itself while each looked the request up through flask's context-local proxies
(some 8,000 instructions a lookup): 177,529 instructions of a read by id's 789,066 went to them (python
-m bench.instructions, each hook left out in turn). Here the request and its flask.g are looked up once
and handed to each.
"""

from flask import g, request

from phoenix.database import read_body_first
from phoenix.housekeeping import sweep_now_and_then
from phoenix.logs import leave_fields_for_the_access_log
from phoenix.metrics import count_request, start_timer
from phoenix.request_ids import echo_request_id
from phoenix.security import harden


def before_every_request():
    """Before anything else (the rate limits look the key up): the body in, then the timer started."""
    read_body_first(request._get_current_object())
    start_timer(g._get_current_object())


def after_every_request(response):
    """After every other hook (Flask-Limiter's and flask-cors' add headers that harden sees): the sweep,
    the counts, the headers, the request's id, and the access line's fields."""
    current, state = request._get_current_object(), g._get_current_object()
    sweep_now_and_then(state)
    count_request(response, current, state)
    harden(response, current.endpoint)
    echo_request_id(response, current, state)
    leave_fields_for_the_access_log(current, state)
    return response


def register_hooks(app):
    """Add both hooks to app before any extension adds its own: Flask runs before_request hooks in the
    order they were added, and after_request hooks in reverse."""
    app.before_request(before_every_request)
    app.after_request(after_every_request)
