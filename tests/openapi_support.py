"""What the OpenAPI tests share: the served spec, its operations, and a judge of answers against it."""

import re

import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

METHODS = ("get", "put", "post", "delete", "patch")
# The shared parts that operations reference; schemas stay references (the tests compare them as such).
INLINED = re.compile(r"^#/components/(responses|parameters|headers)/(.+)$")
# What an answer must be to keep the contract: a documented status, media type, headers and body.
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def served_spec(client):
    """The spec as /api/openapi.json serves it."""
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def inline(spec):
    """spec with every shared answer, parameter and header written out where it is used."""
    return inlined(spec, spec)


def inlined(spec, value):
    """A part of spec, its shared answers, parameters and headers written out."""
    if isinstance(value, dict):
        match = INLINED.match(value.get("$ref", "")) if set(value) == {"$ref"} else None
        if match:
            return inlined(spec, spec["components"][match[1]][match[2]])
        return {key: inlined(spec, part) for key, part in value.items()}
    if isinstance(value, list):
        return [inlined(spec, part) for part in value]
    return value


def operations(spec):
    """(path, method, operation) for every operation of the spec."""
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def concrete(path, value="1"):
    """An OpenAPI path with its parameters filled in."""
    return re.sub(r"\{[^}]+\}", value, path)


def case_of(contract, method, path):
    """A schemathesis case of the operation, to judge an answer by (its path parameters are filled in)."""
    parameters = dict.fromkeys(re.findall(r"\{([^}]+)\}", path), "1")
    return contract[path][method].Case(path_parameters=parameters)


def contract_check(spec):
    """check(method, path, response): the response is one that the spec (as served, references and all)
    documents for that operation, as schemathesis's own checks judge it (path: /api/records/{id})."""
    contract = schemathesis.openapi.from_dict(spec)

    def check(method, path, response):
        assert str(response.status_code) in spec["paths"][path][method]["responses"], (
            method,
            path,
            response.status_code,
        )
        case_of(contract, method, path).validate_response(response, checks=CONFORMANCE)
        return response

    return check


def schema_of(spec, schema):
    """A schema, its $ref followed when it is one."""
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return spec["components"]["schemas"][ref.removeprefix("#/components/schemas/")]
    return schema


def body_schemas(operation):
    """(where, schema) of each JSON body of an operation: its request and its answers."""
    if "requestBody" in operation:
        yield "request", operation["requestBody"]["content"]["application/json"]["schema"]
    for code, answer in operation["responses"].items():
        if "application/json" in answer.get("content", {}):
            yield code, answer["content"]["application/json"]["schema"]
