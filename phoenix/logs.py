"""Logs: one JSON object a line (LOG_FORMAT=json, production's default) or readable text, with the request's
id, method, URL rule, client and key prefix on every line of a request; gunicorn's access log included.

Never a secret: a key appears by its public prefix only (`phx_0123456789abcdef`), never the key itself.
Never a forged line: control characters in a message or a field (a path with %0A, a Basic username with
a newline, a header) are written as escapes (`\x0a`), in text and in JSON, from every layer.
"""

import logging
import os
import re

from flask import g, has_request_context, request
from flask.logging import default_handler
from gunicorn.glogging import Logger as GunicornBaseLogger
from pythonjsonlogger.orjson import OrjsonFormatter

from phoenix.config import log_format
from phoenix.request_ids import id_of

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# The fields of every line, in DESIGN's names; a request's fields (RequestFields) come after them.
JSON_FIELDS = ["levelname", "name", "message"]
JSON_RENAMED = {"levelname": "level", "name": "logger"}
REQUEST_FIELDS = ("request_id", "method", "route", "client", "key_prefix")
# Where the app leaves the request's fields for gunicorn's access line (which runs after the app returns).
ACCESS_FIELDS = "phoenix.log_fields"


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: what could end or forge a line.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text):
    """text with each control character written as an escape: \\x0a for a newline, \\u2028 and so on."""
    if text.isprintable():  # none of them (each is unprintable): the common case, without the regex
        return text
    return CONTROL_CHARACTERS.sub(
        lambda match: f"\\x{ord(match[0]):02x}" if ord(match[0]) < 0x100 else f"\\u{ord(match[0]):04x}",
        text,
    )


class EscapedControls(logging.Filter):
    """Escape control characters in a record's message and its string fields, before any formatter (a
    traceback, which the server writes, keeps its lines)."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the message: let logging report it
            return True
        record.msg, record.args = escape_controls(message), None
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, escape_controls(value))
        return True


def formatter(kind):
    """The formatter of LOG_FORMAT kind: "json" or "text"."""
    if kind == "json":
        # orjson: a line in a third of the time of the standard library's encoder (python -m timeit).
        return OrjsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMED, timestamp="time")
    return logging.Formatter(TEXT_FORMAT)


def request_fields():
    """The current request's fields for a log line: id, method, URL rule, client address, key prefix."""
    return fields_of(request._get_current_object(), g._get_current_object())


def fields_of(current, state):
    """The fields of the request current, whose flask.g is state (request_fields() with both looked up)."""
    rule = current.url_rule
    key = getattr(state, "api_key", None)
    return {
        "request_id": id_of(current, state),
        "method": current.method,
        "route": rule.rule if rule is not None else None,
        "client": current.remote_addr,
        "key_prefix": getattr(key, "prefix", None),
    }


class RequestFields(logging.Filter):
    """Add the request's fields to each record logged while a request is handled."""

    def filter(self, record):
        fields = request_fields() if has_request_context() else {}
        for name in REQUEST_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, fields.get(name))
        if record.request_id is None:
            record.request_id = "-"  # a line outside any request (start-up, a command)
        return True


def phoenix_handler(kind):
    """A stderr handler in LOG_FORMAT kind, with the request's fields; marked as Phoenix's own."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(kind))
    handler.addFilter(RequestFields())
    handler.addFilter(EscapedControls())
    handler.phoenix = True
    return handler


def configure_logging(app):
    """Log at LOG_LEVEL to stderr (gunicorn and Heroku collect it), in LOG_FORMAT, every logger included."""
    root = logging.getLogger()
    # Replaced, not added to: the tests build many apps in one process.
    root.handlers = [h for h in root.handlers if not getattr(h, "phoenix", False)]
    root.addHandler(phoenix_handler(app.config["LOG_FORMAT"]))
    app.logger.removeHandler(default_handler)  # the root's handler writes the app's lines too
    app.logger.setLevel(getattr(logging, app.config["LOG_LEVEL"], logging.INFO))


def leave_fields_for_the_access_log(current, state):
    """Put the fields of the request current (whose flask.g is state) where gunicorn's access line can
    read them, the WSGI environ (phoenix.hooks calls it once the answer is made)."""
    current.environ[ACCESS_FIELDS] = fields_of(current, state)


class GunicornLogger(GunicornBaseLogger):
    """gunicorn's logger, writing its error and access lines in LOG_FORMAT (gunicorn.conf.py logger_class).

    An access line carries DESIGN's fields; a request that gunicorn refused before the app saw it has no
    route or key prefix.
    """

    def setup(self, cfg):
        super().setup(cfg)
        self.kind = log_format(os.environ.get("PHOENIX_CONFIG"))
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                # gunicorn's lines carry client values too (the request line, a Basic username).
                handler.addFilter(EscapedControls())
                if self.kind == "json":
                    handler.setFormatter(formatter("json"))

    def access(self, resp, req, environ, request_time):
        if self.kind != "json":
            return super().access(resp, req, environ, request_time)
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return None
        status = getattr(resp, "status_code", None) or int(str(resp.status).split()[0])
        fields = environ.get(ACCESS_FIELDS) or dict.fromkeys(REQUEST_FIELDS)
        fields["client"] = fields["client"] or environ.get("REMOTE_ADDR")
        fields["method"] = fields["method"] or environ.get("REQUEST_METHOD")
        route = fields["route"] or "-"
        self.access_log.info(
            f"{fields['method']} {route} {status}",
            extra={
                **fields,
                "status": status,
                "duration_ms": round(request_time.total_seconds() * 1000, 3),
                "bytes": getattr(resp, "sent", None),
            },
        )
        return None
