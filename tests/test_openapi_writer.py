"""phoenix/openapi.py, the writer: how declarations become the document, on a toy route of its own."""

import pytest
from flask_restful import Resource
from marshmallow import Schema, fields, validate

from phoenix import create_app
from phoenix.jsonio import envelope
from phoenix.openapi import (
    Answer,
    Feature,
    Operation,
    Tag,
    array_of,
    build_spec,
    contribute,
    schema,
    shared_answer,
    shared_header,
    shared_parameter,
)

TOYS = Tag("Toys", "Things to play with.")


class Undocumented(Resource):
    def get(self):
        return {}


class Search(Schema):
    """Query parameters of a toy route."""

    q = fields.String(required=True, metadata={"description": "What to look for."})
    page = fields.Integer(validate=validate.Range(min=1))


class Documented(Resource):
    docs = {
        "get": Operation(
            summary="Search",
            tag=TOYS,
            query=Search,
            parameters=[{"in": "header", "name": "If-None-Match", "schema": {"type": "string"}}],
            answers={
                200: Answer(
                    "Found.",
                    envelope(
                        "ToyPage",
                        toys=array_of({"type": "string"}),
                        total={"type": "integer"},
                        optional=["total"],
                    ),
                    headers={"ETag": "The version of the page."},
                )
            },
        )
    }

    def get(self):
        return {}


def toy_app(resource):
    """Phoenix with one more route, /toys, served by resource."""
    app = create_app({"PHOENIX_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    app.add_url_rule("/toys", view_func=resource.as_view("toys"))
    return app


def test_a_route_without_docs_stops_the_spec_and_says_what_to_add():
    with pytest.raises(LookupError, match=r"GET /toys \(Undocumented\) has no OpenAPI description"):
        build_spec(toy_app(Undocumented))


def test_query_parameters_can_come_from_a_marshmallow_schema():
    operation = build_spec(toy_app(Documented))["paths"]["/toys"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["q"] == {
        "in": "query",
        "name": "q",
        "required": True,
        "schema": {"type": "string"},
        "description": "What to look for.",
    }
    assert parameters["page"]["schema"] == {"type": "integer", "minimum": 1}
    assert parameters["If-None-Match"]["in"] == "header"
    assert "400" in operation["responses"]


def test_answers_take_optional_parts_and_headers():
    spec = build_spec(toy_app(Documented))
    answer = spec["paths"]["/toys"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ToyPage"}
    body = spec["components"]["schemas"]["ToyPage"]
    assert body["required"] == ["status", "toys"]
    assert body["properties"]["total"] == {"type": "integer"}
    assert answer["headers"]["ETag"] == {
        "description": "The version of the page.",
        "schema": {"type": "string"},
    }


# Components, features and contributors.

ANSWERED = shared_answer(
    "Answered",
    Answer("A shared answer.", headers={"X-Shared": shared_header("X-Shared", "A shared header.")}),
)
COLOUR = shared_parameter("Colour", {"in": "header", "name": "Colour", "schema": {"type": "string"}})
TOY = schema("Toy", {"type": "object", "properties": {"name": {"type": "string"}}})


def toy_operation(**kwargs):
    return Operation(summary="Play", tag=TOYS, **kwargs)


class Shared(Resource):
    docs = {
        "get": toy_operation(parameters=[COLOUR], answers={200: Answer("One toy.", TOY), 404: ANSWERED}),
        "post": toy_operation(body=TOY, answers={201: Answer("The toys.", array_of(TOY)), 409: ANSWERED}),
    }

    def get(self):
        return {}

    def post(self):
        return {}


def test_a_component_is_written_once_and_referenced_wherever_it_is_used():
    spec = build_spec(toy_app(Shared))
    get, post = spec["paths"]["/toys"]["get"], spec["paths"]["/toys"]["post"]
    assert get["responses"]["404"] == post["responses"]["409"] == {"$ref": "#/components/responses/Answered"}
    assert spec["components"]["responses"]["Answered"] == {
        "description": "A shared answer.",
        "headers": {"X-Shared": {"$ref": "#/components/headers/X-Shared"}},
    }
    assert spec["components"]["headers"]["X-Shared"]["description"] == "A shared header."
    assert {"$ref": "#/components/parameters/Colour"} in get["parameters"]
    assert spec["components"]["parameters"]["Colour"] == {
        "in": "header",
        "name": "Colour",
        "schema": {"type": "string"},
    }
    toy = {"$ref": "#/components/schemas/Toy"}
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == toy
    assert post["requestBody"]["content"]["application/json"]["schema"] == toy
    assert post["responses"]["201"]["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": toy,
    }


class Clash(Resource):
    docs = {
        "get": toy_operation(answers={200: Answer("A toy.", schema("Toy", {"type": "string"}))}),
        "post": toy_operation(body=TOY),
    }

    def get(self):
        return {}

    def post(self):
        return {}


def test_two_different_components_under_one_name_stop_the_spec():
    with pytest.raises(ValueError, match="Two different schemas are named 'Toy'"):
        build_spec(toy_app(Clash))


def squeaky(view):
    """A toy feature: a decorator that documents what it adds."""
    return view


squeaky.openapi = Feature(
    parameters=(
        shared_parameter("Squeak", {"in": "header", "name": "Squeak", "schema": {"type": "string"}}),
    ),
    answers={418: Answer("Too squeaky.")},
    success_headers={"X-Squeaked": "Whether it squeaked."},
    security=({"Toy": []},),
    security_schemes={"Toy": {"type": "apiKey", "in": "header", "name": "toy-key"}},
)


class Squeaky(Resource):
    method_decorators = {"post": [squeaky]}
    docs = {
        "get": toy_operation(answers={200: Answer("Quiet.")}),
        "post": toy_operation(answers={201: Answer("Made."), 418: Answer("Declared here: this one wins.")}),
    }

    def get(self):
        return {}

    def post(self):
        return {}


def test_a_decorator_documents_what_it_adds_to_the_methods_it_wraps():
    spec = build_spec(toy_app(Squeaky))
    get, post = spec["paths"]["/toys"]["get"], spec["paths"]["/toys"]["post"]
    assert post["security"] == [{"Toy": []}]
    assert spec["components"]["securitySchemes"]["Toy"]["name"] == "toy-key"
    assert {"$ref": "#/components/parameters/Squeak"} in post["parameters"]
    assert post["responses"]["418"]["description"] == "Declared here: this one wins."
    assert post["responses"]["201"]["headers"]["X-Squeaked"]["description"] == "Whether it squeaked."
    # The method it does not wrap: no key needed, and the spec says so.
    assert get["security"] == []
    assert "418" not in get["responses"] and "Squeak" not in str(get.get("parameters"))


def test_contributors_see_every_operation_and_add_what_applies():
    app = toy_app(Squeaky)
    seen = []

    def teapots(context):
        seen.append((context.endpoint, context.method, context.has_body, context.declared.summary))
        return Feature(answers={418: Answer("Contributed.")}) if context.method == "get" else None

    contribute(app, teapots)
    spec = build_spec(app)
    assert ("toys", "get", False, "Play") in seen and ("toys", "post", False, "Play") in seen
    assert spec["paths"]["/toys"]["get"]["responses"]["418"]["description"] == "Contributed."
    assert (
        spec["paths"]["/toys"]["post"]["responses"]["418"]["description"] == "Declared here: this one wins."
    )


class Maybe(Schema):
    anything = fields.Raw(allow_none=True)
    text = fields.String(allow_none=True)


class Nullable(Resource):
    docs = {"get": toy_operation(answers={200: Answer("Maybe.", Maybe)})}

    def get(self):
        return {}


def test_nullable_stands_only_beside_a_type():
    """A schema without a type already allows null; OpenAPI 3.0 wants `nullable` beside a `type` only."""
    properties = build_spec(toy_app(Nullable))["components"]["schemas"]["Maybe"]["properties"]
    assert properties["anything"] == {}
    assert properties["text"] == {"type": "string", "nullable": True}


def test_the_info_is_the_apps_own():
    spec = build_spec(toy_app(Shared))
    assert spec["info"]["title"] == "Phoenix"
    assert spec["info"]["license"]["name"] == "MIT"
