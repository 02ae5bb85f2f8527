"""Turns: how many requests a gevent worker works on at once (PHOENIX_ACTIVE_REQUESTS, default 4).

A gevent worker takes every connection (a slow client costs a greenlet, not a worker). Were it to work on
all of their requests at once, each request would wait behind all the others at every round trip to
PostgreSQL, and a write of several round trips would wait that many times as long as a read: under 64 busy
connections on 4 workers (`make soak`, part d), p99 300 to 350 ms for a p50 of 40 to 55. So once its body
is in, a request waits for one of its worker's turns, in arrival order, and gives the turn back when its
answer is made, before the answer is written to the client (a slow reader holds no turn). With 4 turns:
p99 95 to 140 ms, and more requests a second, not fewer (README, "Serving in production").

A request that waits for something other than its own work (the changes feed's long poll, between its
polls) sets its turn aside meanwhile, so that fifty long polls hold up no one.
"""

import os
from contextlib import contextmanager

from phoenix.metrics import TURN_WAITS, WAITING_FOR_A_TURN

DEFAULT_TURNS = 4

# The worker's turns (a gevent semaphore, set by phoenix.server.PhoenixWorker in each worker process);
# None anywhere else (the tests' client, flask run, sync workers): every request goes at once.
TURNS = None


def turns_setting():
    """PHOENIX_ACTIVE_REQUESTS: a whole number of at least 1."""
    value = os.environ.get("PHOENIX_ACTIVE_REQUESTS", "").strip() or str(DEFAULT_TURNS)
    if not value.isdigit() or int(value) < 1:
        raise RuntimeError(f"PHOENIX_ACTIVE_REQUESTS must be a whole number of at least 1, not {value!r}")
    return int(value)


@contextmanager
def taking_a_turn():
    """Hold one of the worker's turns (waiting for it, in arrival order) while the block runs; a wait is
    counted (phoenix_turn_waits_total) and shown while it lasts (phoenix_requests_waiting_for_a_turn)."""
    if TURNS is None:
        yield
        return
    if TURNS.locked():  # every turn taken: this request queues
        TURN_WAITS.inc()
        WAITING_FOR_A_TURN.inc()
        try:
            TURNS.acquire()
        finally:
            WAITING_FOR_A_TURN.dec()
    else:
        TURNS.acquire()
    try:
        yield
    finally:
        TURNS.release()


@contextmanager
def set_aside():
    """Give the request's turn back while the block waits (a long poll's sleep); take one again after."""
    if TURNS is None:
        yield
        return
    TURNS.release()
    try:
        yield
    finally:
        TURNS.acquire()
