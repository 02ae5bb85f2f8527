"""Optimistic concurrency: strong ETags from item versions, If-Match (412) and If-None-Match (304)."""

from flask import request

from phoenix.errors import ApiError, error_answer
from phoenix.openapi import TEXT, Answer, Feature, shared_answer, shared_header, shared_parameter

STALE = "The {name} has changed since you read it (its ETag is now {etag}). Read it again and retry."


def etag(item):
    """The strong ETag of an item's current version."""
    return f'"{item.version}"'


def listed_tags(header):
    """The (tag, weak) pairs of an If-Match / If-None-Match header; "*" stands for any."""
    for part in header.split(","):
        part = part.strip()
        weak = part.startswith("W/")
        tag = part[2:] if weak else part
        if tag:
            yield tag.strip('"'), weak


def require_current_version(item, name):
    """412 unless If-Match, when sent, names the item's current version (strong comparison)."""
    header = request.headers.get("If-Match")
    if header is None:
        return  # no precondition: the last write wins
    current = str(item.version)
    if not any(tag in ("*", current) and not weak for tag, weak in listed_tags(header)):
        raise ApiError(
            412, STALE.format(name=name, etag=etag(item)), headers={"ETag": etag(item)}, code="stale_version"
        )


def not_modified(item):
    """True when If-None-Match names the item's current version (weak comparison): answer 304."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    current = str(item.version)
    return any(tag in ("*", current) for tag, _ in listed_tags(header))


# The docs of the version check: ETag on the answers, If-None-Match (304) on reads, If-Match (412) on writes.
ETAG = shared_header("ETag", 'The item\'s version, as a strong ETag (`"3"`).', required=True)
IF_MATCH = shared_parameter(
    "If-Match",
    {
        "in": "header",
        "name": "If-Match",
        "description": 'Write only if the item is still at this version: its `ETag` (`"3"`), or `*` for any. '
        "A list separated by commas names several. Otherwise 412, and nothing is written.",
        "schema": TEXT,
        "example": '"1"',
    },
)
IF_NONE_MATCH = shared_parameter(
    "If-None-Match",
    {
        "in": "header",
        "name": "If-None-Match",
        "description": "The `ETag` of the copy you hold: 304, with no body, while it is still the current one.",
        "schema": TEXT,
        "example": '"1"',
    },
)
NOT_MODIFIED = shared_answer(
    "NotModified", Answer("Not modified: If-None-Match names the current version.", headers={"ETag": ETAG})
)
STALE_VERSION = shared_answer(
    "StaleVersion",
    error_answer(
        "If-Match does not name the current version: nothing was written. Read the item again and retry.",
        STALE.format(name="record", etag='"4"'),
        headers={"ETag": ETAG},
    ),
)
# An operation that honours If-None-Match (not_modified), and one that honours If-Match (require_current_version).
READS_VERSION = Feature(parameters=(IF_NONE_MATCH,), answers={304: NOT_MODIFIED})
WRITES_VERSION = Feature(parameters=(IF_MATCH,), answers={412: STALE_VERSION})
