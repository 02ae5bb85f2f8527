"""Optimistic concurrency: strong ETags from item versions, If-Match (412) and If-None-Match (304)."""

from flask import request

from phoenix.errors import ApiError

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
