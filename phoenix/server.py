"""The gunicorn worker Phoenix runs under (gunicorn.conf.py): gevent, with psycopg2 made cooperative, a
deadline on each request's headers and body (read whole before Flask sees it), and every answer gunicorn gives itself in Phoenix's JSON shape.

Why gevent (numbers in the README, "Serving"): each connection is a greenlet, not a process or a thread,
so 200 clients sending their headers a byte at a time cost 200 small greenlets rather than every worker,
a changes-feed long poll waits without holding anyone's worker, and keep-alive costs nothing. psycogreen
makes psycopg2 yield while it waits for PostgreSQL, so a slow query does not stall the other greenlets.
"""

import io
import os
import re
import time
import uuid
import warnings
import weakref
from datetime import datetime

import gevent
import gevent.lock
import orjson
from gevent.monkey import MonkeyPatchWarning
from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.ggevent import GeventWorker
from psycogreen.gevent import patch_psycopg

from phoenix import turns
from phoenix.errors import HTTP_MESSAGES, SERVER_ERROR

# How long a client may take to send a request's headers, and then its body: past it, a JSON 408.
CLIENT_TIMEOUT_SECONDS = float(os.environ.get("PHOENIX_CLIENT_TIMEOUT_S", "").strip() or 10)
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

TOO_SLOW, URI_TOO_LONG, HEADERS_TOO_LARGE, MALFORMED = (HTTP_MESSAGES[n] for n in (408, 414, 431, 400))

# gunicorn's refusals, as (status, reason, code, message): the first class that matches answers.
REFUSALS = [
    # Faults of the server or the app, though gunicorn files them with the parse errors.
    ((http_errors.ConfigurationProblem, http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName),
     500, "Internal Server Error", "server_error", SERVER_ERROR),
    (http_errors.LimitRequestLine, 414, "URI Too Long", "uri_too_long", URI_TOO_LONG),
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "headers_too_large",
     HEADERS_TOO_LARGE),
    (http_errors.UnsupportedTransferCoding, 501, "Not Implemented", "not_implemented",
     "The request's Transfer-Encoding is not supported. Send the body with a Content-Length."),
    (http_errors.ExpectationFailed, 417, "Expectation Failed", "expectation_failed",
     "The Expect header can not be met. Send the request without it."),
    (http_errors.ForbiddenProxyRequest, 403, "Forbidden", "forbidden", "Requests from this proxy are refused."),
    (http_errors.ParseException, 400, "Bad Request", "bad_request", MALFORMED),
]  # fmt: skip


class ClientTooSlow(Exception):
    """The client did not send its request's headers within CLIENT_TIMEOUT_SECONDS."""


def refusal(error):
    """(status, reason, code, message) for an exception gunicorn raised before the app saw the request."""
    if isinstance(error, ClientTooSlow):
        return 408, "Request Timeout", "request_timeout", TOO_SLOW
    for kind, status, reason, code, message in REFUSALS:
        if isinstance(error, kind):
            return status, reason, code, message
    return 500, "Internal Server Error", "server_error", SERVER_ERROR


def request_id_of(req):
    """The client's X-Request-ID when it is well formed, else a new one."""
    for name, value in getattr(req, "headers", None) or []:
        if name == "X-REQUEST-ID" and REQUEST_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


def failure_body(code, message, request_id):
    """Phoenix's failure shape, as bytes."""
    return orjson.dumps({"status": "failed", "message": message, "code": code, "request_id": request_id})


def json_error(status, reason, code, message, request_id):
    """A whole HTTP/1.1 answer in Phoenix's failure shape; the connection closes after it."""
    body = failure_body(code, message, request_id)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Request-ID: {request_id}\r\nX-Content-Type-Options: nosniff\r\n\r\n"
    )
    return head.encode("latin-1") + body


def read_body(stream, deadline, limit):
    """The whole body from stream, or None if it is not in by deadline. Stops after limit + 1 bytes: the
    app answers 413 for more."""
    chunks, size = [], 0
    with gevent.Timeout(max(deadline - time.monotonic(), 0.001), False):
        while size <= limit and (chunk := stream.read(min(65536, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    return None


def with_buffered_body(app, worker):
    """Wrap a WSGI app so that it sees a request only once its whole body is in, as a buffering proxy would,
    and then in its turn (phoenix/turns.py).

    A handler then never waits on a client while it holds a database connection, a lock or SQLite's
    write lock; a body not in within CLIENT_TIMEOUT_SECONDS is a 408 and the connection closes.
    """
    limit = getattr(app, "config", {}).get("MAX_CONTENT_LENGTH") or 1024 * 1024

    def serve(environ, start_response):
        declared = environ.get("CONTENT_LENGTH", "")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if (declared.isdigit() and 0 < int(declared) <= limit) or chunked:
            body = read_body(environ["wsgi.input"], time.monotonic() + CLIENT_TIMEOUT_SECONDS, limit)
            if body is None:
                worker.requests[gevent.getcurrent()].force_close()  # the rest of the body is unread
                request_id = request_id_of_environ(environ)
                answer = failure_body("request_timeout", TOO_SLOW, request_id)
                start_response("408 Request Timeout", [
                    ("Content-Type", "application/json"), ("Content-Length", str(len(answer))),
                    ("X-Request-ID", request_id), ("X-Content-Type-Options", "nosniff"),
                ])  # fmt: skip
                return [answer]
            environ["wsgi.input"] = io.BytesIO(body)
            if chunked:
                environ["CONTENT_LENGTH"] = str(len(body))
        with turns.taking_a_turn():  # Flask's answer is made whole inside; gunicorn writes it after
            return app(environ, start_response)

    return serve


def request_id_of_environ(environ):
    """The client's X-Request-ID when it is well formed, else a new one."""
    value = environ.get("HTTP_X_REQUEST_ID", "")
    return value if REQUEST_ID.fullmatch(value) else uuid.uuid4().hex


class PhoenixWorker(GeventWorker):
    """gunicorn's gevent worker with psycopg2 cooperative, client deadlines and JSON refusals."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The greenlets (one per connection) that have answered a request: their next wait is keep-alive.
        self.served = weakref.WeakSet()
        # The request each greenlet is serving, so that a 408 can close its connection.
        self.requests = weakref.WeakKeyDictionary()
        # How many requests this worker works on at once (phoenix/turns.py): this process's.
        turns.TURNS = gevent.lock.BoundedSemaphore(turns.turns_setting())

    def patch(self):
        # The master imported ssl before this fork (gunicorn loads this class, and so Phoenix, which
        # imports http.client). gevent warns, on stderr and outside any log format, that ssl is patched
        # late: harmless here, since the workers make no TLS connection through Python's ssl (psycopg2
        # uses libpq's own TLS); a rediss:// limits storage would be the one to check.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MonkeyPatchWarning)
            super().patch()
        patch_psycopg()  # psycopg2 waits for PostgreSQL through gevent's hub, yielding to other greenlets

    def load_wsgi(self):
        super().load_wsgi()
        self.wsgi = with_buffered_body(self.wsgi, self)

    def timeout_ctx(self):
        """The deadline on reading a request's headers (gunicorn's keep-alive loop asks for it)."""
        if gevent.getcurrent() in self.served:
            # An idle kept-alive connection: closed quietly after keepalive seconds, as gunicorn does.
            return gevent.Timeout(self.cfg.keepalive, False)
        return gevent.Timeout(CLIENT_TIMEOUT_SECONDS, ClientTooSlow())

    def handle_request(self, listener_name, req, sock, addr):
        self.served.add(gevent.getcurrent())
        self.requests[gevent.getcurrent()] = req
        keep_alive = super().handle_request(listener_name, req, sock, addr)
        # Take turns: a kept-alive client whose next request is already in (pipelined, or just quick)
        # would otherwise be served again at once, and again, while the worker's other connections and
        # its acceptor wait (bare Flask at 16 connections on two workers: p99 200 to 600 ms for a p50 of
        # 1 ms; with the turn, 15 to 90 ms). sleep(0) puts this greenlet behind the others ready to run.
        gevent.sleep(0)
        return keep_alive

    def handle_error(self, req, client, addr, exc):
        """Answer what gunicorn refuses before Flask in JSON, never its HTML page."""
        started = datetime.now()
        status, reason, code, message = refusal(exc)
        addr = addr or ("", -1)
        if status == 500:
            self.log.exception("Error handling request")
        else:
            # repr: the client's bytes reach the log with their newlines and control characters escaped.
            self.log.warning("Refused a request from %s: %d %r", addr[0], status, str(exc)[:200])
        if req is None and hasattr(getattr(exc, "req", None), "body"):
            req = exc.req  # a header error carries the request it was reading
        if req is not None:
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
            response = Response(req, client, self.cfg)
            response.status = f"{status} {reason}"
            self.log.access(response, req, environ, datetime.now() - started)
        try:
            util.write(client, json_error(status, reason, code, message, request_id_of(req)))
        except OSError:
            self.log.debug("Could not send the %d answer: the client is gone.", status)
