"""What a key may do: its scopes, checked on every write, and who may change an item (the write policy).

A key carries a subset of SCOPES. A write needs its collection's `:write` scope, `/api/account/keys`
needs `keys:manage`; `moderate` (granted only by the operator) lets a key change any item under the
owner policy. A missing scope is 403 `missing_scope`, with `X-Accepted-Scopes` naming what would do.
"""

from functools import wraps

from flask import current_app, g

from phoenix.errors import ApiError, error_answer
from phoenix.openapi import Feature, header

RECORDS_WRITE = "records:write"
GAMES_WRITE = "games:write"
KEYS_MANAGE = "keys:manage"
MODERATE = "moderate"
SCOPES = (RECORDS_WRITE, GAMES_WRITE, KEYS_MANAGE, MODERATE)  # also the order they are stored and shown in
# Self-service keys, migrated keys and `flask keys create` without --scopes: everything but moderate.
DEFAULT_SCOPES = (RECORDS_WRITE, GAMES_WRITE, KEYS_MANAGE)

WRITE_POLICIES = ("shared", "owner")
MISSING_SCOPE = "This API key lacks the {scope} scope that this call needs: use a key that has it."
WIDER_THAN_CALLER = "A key cannot give what it lacks: this API key has no {scope} scope."
NOT_OWNER = "Only {owner}, who created this {what}, or a key with the moderate scope may change or remove it."
OWNER_UNKNOWN = "someone else"


def stored_scopes(scopes):
    """Scopes as the database keeps them: one space-separated string, in SCOPES order."""
    return " ".join(scope for scope in SCOPES if scope in set(scopes))


def scopes_of(key):
    """The scopes of a key row, as a tuple in SCOPES order."""
    return tuple(key.scopes.split())


def missing_scope(scope):
    """The 403 for a call that needs scope."""
    return ApiError(
        403,
        MISSING_SCOPE.format(scope=scope),
        headers={"X-Accepted-Scopes": scope},
        code="missing_scope",
    )


def require_scope(scope):
    """A method decorator: 403 unless the calling key (put on g by require_api_key, applied after this
    one in method_decorators, so that it runs first) has scope. The spec reads `scope` off it."""

    def decorator(view):
        @wraps(view)
        def checked(*args, **kwargs):
            if scope not in scopes_of(g.api_key):
                raise missing_scope(scope)
            return view(*args, **kwargs)

        return checked

    decorator.scope = scope
    decorator.openapi = scope_feature(scope)
    return decorator


def scope_refusal(scope, owned=False):
    """The doc of the 403 of a key without scope; owned: of a change of an item, also refused under the
    owner policy."""
    description = (
        f"The key lacks the `{scope}` scope: `code` is `missing_scope`, `X-Accepted-Scopes` names it."
    )
    if owned:
        description += (
            " Or, under the owner policy, the item is another username's and the key has no `moderate` "
            "scope: `code` is `not_owner`."
        )
    return error_answer(
        description,
        MISSING_SCOPE.format(scope=scope),
        headers={"X-Accepted-Scopes": header("The scope that would do (on `missing_scope`).")},
        code="missing_scope",
    )


def scope_feature(scope):
    """The docs of require_scope(scope): the scope the operation needs (apiKey schemes carry no scopes in
    OpenAPI 3.0, so an extension, x-required-scopes, names it) and its 403."""
    return Feature(answers={403: scope_refusal(scope)}, extensions={"x-required-scopes": [scope]})


def owned_feature(scope):
    """The docs of a change of an item that require_owner guards: its 403 names both refusals (an
    operation's own features come before its decorators', so this 403 is the one written)."""
    return Feature(answers={403: scope_refusal(scope, owned=True)})


def require_within_caller(scopes):
    """403 unless every one of scopes is the calling key's own: a key never mints a wider key."""
    own = scopes_of(g.api_key)
    for scope in SCOPES:
        if scope in scopes and scope not in own:
            raise ApiError(
                403,
                WIDER_THAN_CALLER.format(scope=scope),
                headers={"X-Accepted-Scopes": scope},
                code="missing_scope",
            )


def require_owner(item, what):
    """Under PHOENIX_WRITE_POLICY=owner: 403 not_owner unless the caller created item or may moderate."""
    if current_app.config["PHOENIX_WRITE_POLICY"] != "owner":
        return
    key = g.api_key
    owner = item.createdby
    if owner is not None and owner.lower() == key.username.lower():
        return
    if MODERATE in scopes_of(key):
        return
    raise ApiError(403, NOT_OWNER.format(owner=owner or OWNER_UNKNOWN, what=what), code="not_owner")
