"""The URL map: every route of the API, in one place."""

from flask_restful import Api

from phoenix.errors import render_error
from phoenix.jsonio import json_response
from phoenix.openapi import describe
from phoenix.resources.changes import Changes
from phoenix.resources.docs import API_INFO, ApiDocs, Landing, OpenApiSpec, StaticFile, SwaggerUiFile
from phoenix.resources.games import GameHistory, GameItem, GameList
from phoenix.resources.health import Health, Ready
from phoenix.resources.keys import AccountKey, AccountKeys, KeyList, KeyRotation, OwnKey
from phoenix.resources.legacy import (
    CreateRecord,
    GenerateKey,
    ListRecords,
    MissingNumber,
    MissingUsername,
    ModifyRecord,
    ReadRecord,
    RemoveRecord,
)
from phoenix.resources.metrics import Metrics
from phoenix.resources.records import RecordHistory, RecordItem, RecordList


class PhoenixApi(Api):
    """Flask-RESTful, answering in our JSON shape (orjson) and with our error path."""

    def handle_error(self, e):
        # Flask-RESTful would otherwise answer errors raised inside resources in its own shape.
        return render_error(e)

    def make_response(self, data, *args, **kwargs):
        # JSON is the only representation (and the default for any Accept): no negotiation per answer.
        kwargs.pop("fallback_mediatype", None)
        return output_json(data, *args, **kwargs)


def output_json(data, code, headers=None):
    """Flask-RESTful's JSON representation, encoded with orjson."""
    return json_response(data, code, headers)


def register_resources(app):
    """Bind every resource to its URL."""
    api = PhoenixApi(app)
    api.representations = {"application/json": output_json}

    api.add_resource(RecordList, "/api/records", endpoint="records")
    api.add_resource(RecordItem, "/api/records/<id>", endpoint="record")
    api.add_resource(RecordHistory, "/api/records/<id>/history", endpoint="record_history")
    api.add_resource(GameList, "/api/games", endpoint="games")
    api.add_resource(GameItem, "/api/games/<id>", endpoint="game")
    api.add_resource(GameHistory, "/api/games/<id>/history", endpoint="game_history")
    api.add_resource(Changes, "/api/changes", endpoint="changes")
    api.add_resource(KeyList, "/api/keys", endpoint="keys")
    api.add_resource(OwnKey, "/api/keys/me", endpoint="own_key")
    api.add_resource(KeyRotation, "/api/keys/me/rotate", endpoint="key_rotation")
    api.add_resource(AccountKeys, "/api/account/keys", endpoint="account_keys")
    api.add_resource(AccountKey, "/api/account/keys/<prefix>", endpoint="account_key")

    # Project Phoenix's original routes.
    api.add_resource(GenerateKey, "/api/generate_key/<username>", endpoint="legacy_generate_key")
    api.add_resource(MissingUsername, "/api/generate_key/", endpoint="legacy_generate_key_missing")
    api.add_resource(ListRecords, "/api/list", endpoint="legacy_list")
    api.add_resource(CreateRecord, "/api/create", endpoint="legacy_create")
    api.add_resource(ReadRecord, "/api/read/<id>", endpoint="legacy_read")
    api.add_resource(ModifyRecord, "/api/modify/<id>", endpoint="legacy_modify")
    api.add_resource(RemoveRecord, "/api/remove/<id>", endpoint="legacy_remove")
    for path, method in (("/api/read/", "GET"), ("/api/modify/", "PATCH"), ("/api/remove/", "DELETE")):
        api.add_resource(MissingNumber, path, endpoint=f"legacy_missing_{method.lower()}", methods=[method])

    api.add_resource(Health, "/health", endpoint="health")
    api.add_resource(Ready, "/health/ready", endpoint="ready")
    api.add_resource(Metrics, "/metrics", endpoint="metrics")

    # The pages and the spec (phoenix/openapi.py writes it from the resources' docs and the features').
    describe(app, **API_INFO)
    api.add_resource(Landing, "/", endpoint="landing")
    api.add_resource(ApiDocs, "/api/docs", endpoint="docs")
    api.add_resource(OpenApiSpec, "/api/openapi.json", endpoint="openapi")
    api.add_resource(SwaggerUiFile, "/api/docs/<filename>", endpoint="swagger_ui")
    api.add_resource(StaticFile, "/static/<filename>", endpoint="static")
    return api
