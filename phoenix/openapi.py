"""The OpenAPI writer: generic machinery that turns the declarations kept beside each feature into one document.

It knows no resource and no feature of Phoenix; it reads
- the URL map: every rule, every method but HEAD and OPTIONS, and on each view class `docs` (method name
  -> Operation) and `path_parameters` (placeholder name -> what it is);
- the Features that an operation names, and those of the decorators in its resource's method_decorators
  (a decorator documents what it adds in its `openapi` attribute: `require_api_key` its key and 401);
- the contributors registered on the app with contribute(app, callback): each sees every operation and may
  add a Feature (the error path adds the 400, 413, 415, 500 and 503 answers; the rate limits the 429);
- Components: named schemas, answers, headers and parameters, written once under `components` the first
  time they are used and referenced with `$ref` wherever they are;
- marshmallow schemas, converted by apispec's MarshmallowPlugin (a field may add to its own JSON Schema
  with an `openapi_properties()` method).
The API's title, version, description and license come from describe(app, ...).

The rules it applies to every operation: an operation without a security requirement says so
(`security: []`); the answers an operation declares win over those its features and contributors add.
"""

import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

# Swagger UI 4 (the swagger-ui-bundle package) reads OpenAPI 3.0, not 3.1.
OPENAPI_VERSION = "3.0.3"
TEXT = {"type": "string"}
NULLABLE_TEXT = {"type": "string", "nullable": True}
SECONDS = {"type": "integer", "minimum": 0}
# <id>, <path:filename>: a werkzeug placeholder, with or without its converter.
PLACEHOLDER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


@dataclass(frozen=True)
class Component:
    """A named, shared part of the spec, written once under components/<kind>/<name> and referenced by $ref.

    kind: "schemas", "responses", "headers", "parameters" or "securitySchemes"; value: what it is (JSON
    Schema that may hold markers, an Answer, a header or parameter object), or a function of the writer
    that returns it (for values that need a marshmallow schema converted first).
    """

    kind: str
    name: str
    value: object

    @property
    def ref(self):
        return {"$ref": f"#/components/{self.kind}/{self.name}"}


def schema(name, value):
    """A named JSON Schema: components/schemas/<name>."""
    return Component("schemas", name, value)


@dataclass(frozen=True)
class Tag:
    """A group of operations, as Swagger UI shows them; tags appear in the order their routes are added."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class Answer:
    """One documented response: what it means, its body and headers.

    headers: name -> a description (an optional string header), header(...), or a headers Component;
    media_type: one, or a tuple of those the answer may have (each with the same schema).
    """

    description: str
    schema: object = None
    example: object = None
    headers: Mapping = field(default_factory=dict)
    media_type: str | tuple = "application/json"


def shared_answer(name, answer):
    """An Answer that many operations give: components/responses/<name>."""
    return Component("responses", name, answer)


def header(description, schema=TEXT, required=False):
    """A response header, for Answer.headers; required: the answer always carries it."""
    return {"description": description, "required": required, "schema": schema}


def shared_header(name, description, schema=TEXT, required=False):
    """A response header that many answers carry: components/headers/<name>."""
    return Component("headers", name, header(description, schema, required))


def shared_parameter(name, parameter):
    """A parameter (a request header, say) that many operations take: components/parameters/<name>."""
    return Component("parameters", name, parameter)


@dataclass(frozen=True)
class Feature:
    """What a piece of machinery adds to each operation it serves: parameters, answers, a security need.

    success_headers are added to the operation's own 2xx answers (not to shared ones); security_schemes
    (name -> scheme) are what the security requirement names; extensions ("x-..." -> a list) are merged
    into the operation object.
    """

    parameters: tuple = ()
    answers: Mapping = field(default_factory=dict)
    success_headers: Mapping = field(default_factory=dict)
    security: tuple = ()
    security_schemes: Mapping = field(default_factory=dict)
    extensions: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """What one method of one URL does: the declarative entry a resource gives in its `docs`.

    body: the JSON request body (a marshmallow schema, a Component, or JSON Schema holding them), which
    may be left out when body_required is False; example: a request body example; query: the query
    parameters (a marshmallow schema, one parameter per field, or a list of OpenAPI parameter objects);
    parameters: more parameters (objects or Components); answers: status code -> Answer or shared answer;
    features: the Features this operation uses (If-Match, Idempotency-Key, ...); uses_database: False for
    an operation that never touches the database (contributors read it).
    """

    summary: str
    tag: Tag
    description: str = ""
    body: object = None
    body_required: bool = True
    example: object = None
    query: object = None
    parameters: tuple = ()
    answers: Mapping = field(default_factory=dict)
    features: tuple = ()
    operation_id: str = ""
    uses_database: bool = True


@dataclass(frozen=True)
class Context:
    """What a contributor sees of one operation."""

    endpoint: str
    method: str
    declared: Operation
    has_parameters: bool
    has_body: bool


def array_of(items, **limits):
    """A JSON array of items; limits: minItems, maxItems."""
    return {"type": "array", "items": items, **limits}


def openapi_path(rule):
    """A werkzeug rule as an OpenAPI path: /api/records/<id> -> /api/records/{id}."""
    return PLACEHOLDER.sub(r"{\1}", rule.rule)


def first_line(text):
    """The first line of a docstring."""
    return text.strip().splitlines()[0] if text and text.strip() else ""


def is_marshmallow(value):
    """Whether value is a marshmallow schema, as a class or an instance."""
    return isinstance(value, Schema) or (isinstance(value, type) and issubclass(value, Schema))


def declared_by_field(self, field, **kwargs):
    """What a field says of itself (its openapi_properties()), for apispec (an attribute function)."""
    describe = getattr(field, "openapi_properties", None)
    return describe() if describe else {}


def without_typeless_nullable(value):
    """JSON Schema where `nullable` stands only beside a `type` (a schema without one already allows null)."""
    if isinstance(value, Mapping):
        return {
            key: without_typeless_nullable(part)
            for key, part in value.items()
            if not (key == "nullable" and part is True and "type" not in value)
        }
    if isinstance(value, list):
        return [without_typeless_nullable(part) for part in value]
    return value


class SpecWriter:
    """Turns the declarations into an apispec APISpec: resolves markers and components, applies features."""

    def __init__(self, info, contributors=()):
        self.plugin = MarshmallowPlugin()
        info = dict(info)
        self.spec = APISpec(
            title=info.pop("title"),
            version=info.pop("version"),
            openapi_version=OPENAPI_VERSION,
            plugins=[self.plugin],
            info=info,
        )
        self.plugin.converter.add_attribute_function(declared_by_field)
        self.contributors = list(contributors)
        self.components = {}  # (kind, name) -> the value written
        self.tags = {}

    # Components and markers

    def component(self, component):
        """A $ref to component, writing it under components the first time; two values under one name fail."""
        key = (component.kind, component.name)
        if key in self.components:
            if self.components[key][0] is not component.value:
                written = self.write(component.kind, self.value_of(component))
                if written != self.components[key][1]:
                    raise ValueError(f"Two different {component.kind} are named {component.name!r}")
            return component.ref
        self.components[key] = (component.value, None)  # registered first, so that a cycle ends here
        written = self.write(component.kind, self.value_of(component))
        self.components[key] = (component.value, written)
        if component.kind == "parameters":  # apispec takes a parameter's location apart
            rest = {key: value for key, value in written.items() if key not in ("in", "name")}
            self.spec.components.parameter(component.name, written["in"], rest)
        else:
            getattr(self.spec.components, COMPONENT_ADDERS[component.kind])(component.name, written)
        return component.ref

    def value_of(self, component):
        """A component's value: as given, or what its function of the writer returns."""
        return component.value(self) if callable(component.value) else component.value

    def write(self, kind, value):
        """A component's value as the spec writes it."""
        if kind == "responses":
            return self.answer(value)
        if kind == "headers":
            return self.resolve(dict(value))
        return self.resolve(value)

    def marshmallow(self, schema):
        """A $ref to the component of a marshmallow schema, named after its class (KeySchema: Key)."""
        instance = schema() if isinstance(schema, type) else schema
        name = type(instance).__name__.removesuffix("Schema")

        def build(writer):
            component = writer.json_schema(instance)
            component.setdefault("description", first_line(type(instance).__doc__))
            if not instance.load_fields:
                # Only ever dumped (an answer): every field is always there, null where unset; except a
                # field that says it is sent only on request (metadata "optional": include=item's item).
                optional = {
                    field.data_key or name
                    for name, field in instance.dump_fields.items()
                    if field.metadata.get("optional")
                }
                component["required"] = [name for name in component["properties"] if name not in optional]
            return component

        return self.component(Component("schemas", name, build))

    def json_schema(self, schema):
        """The JSON Schema of a marshmallow schema, as apispec writes it (inline, not a component)."""
        instance = schema() if isinstance(schema, type) else schema
        return without_typeless_nullable(self.plugin.converter.schema2jsonschema(instance))

    def resolve(self, value):
        """JSON Schema with every marker (Component, marshmallow schema) replaced by its $ref."""
        if isinstance(value, Component):
            return self.component(value)
        if is_marshmallow(value):
            return self.marshmallow(value)
        if isinstance(value, Mapping):
            return {key: self.resolve(part) for key, part in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(part) for part in value]
        return value

    # Operations

    def answer(self, answer, extra_headers=None):
        """An Answer as an OpenAPI response object (a shared answer: its $ref)."""
        if isinstance(answer, Component):
            return self.component(answer)
        response = {"description": answer.description}
        if answer.schema is not None:
            media = {"schema": self.resolve(answer.schema)}
            if answer.example is not None:
                media["example"] = answer.example
            media_types = (answer.media_type,) if isinstance(answer.media_type, str) else answer.media_type
            response["content"] = {media_type: dict(media) for media_type in media_types}
        headers = {
            **answer.headers,
            **{k: v for k, v in (extra_headers or {}).items() if k not in answer.headers},
        }
        if headers:
            response["headers"] = {
                name: {"description": value, "schema": TEXT}
                if isinstance(value, str)
                else self.resolve(value)
                for name, value in headers.items()
            }
        return response

    def parameter(self, parameter):
        """A parameter object; a shared one by its name, which apispec turns into its $ref."""
        if isinstance(parameter, Component):
            self.component(parameter)
            return parameter.name
        return self.resolve(parameter)

    def path_parameters(self, rule, view_class):
        """The rule's placeholders as OpenAPI path parameters, described by the view's path_parameters."""
        described = getattr(view_class, "path_parameters", {})
        parameters = []
        for name in rule.arguments:
            if name not in described:
                raise LookupError(
                    f"No description of the path parameter {name!r} of {rule.rule}: add it to "
                    f"{view_class.__name__}.path_parameters"
                )
            declared = dict(described[name])
            if not isinstance(declared["schema"], Mapping):  # a marshmallow field
                declared["schema"] = self.plugin.converter.field2property(declared["schema"])
            parameters.append({"in": "path", "name": name, "required": True, **declared})
        return parameters

    def query_parameters(self, query):
        """An operation's query parameters: from a marshmallow schema, or as given."""
        if query is None:
            return []
        if is_marshmallow(query):
            instance = query() if isinstance(query, type) else query
            parameters = self.plugin.converter.schema2parameters(instance, location="query")
            for parameter in parameters:
                # A field may name its schema, so that generators make one type of it, not one per operation.
                declared = instance.fields.get(parameter["name"])
                name = declared.metadata.get("openapi_schema_name") if declared else None
                if name:
                    parameter["schema"] = self.component(Component("schemas", name, parameter["schema"]))
            return parameters
        return [dict(parameter) for parameter in query]

    def operation(self, rule, view_class, method, declared):
        """One operation object: the declaration, its features and what the contributors add."""
        features = list(declared.features) + decorator_features(view_class, method)
        parameters = (
            self.path_parameters(rule, view_class)
            + self.query_parameters(declared.query)
            + list(declared.parameters)
            + [parameter for feature in features for parameter in feature.parameters]
        )
        context = Context(rule.endpoint, method, declared, bool(parameters), declared.body is not None)
        for contributor in self.contributors:
            feature = contributor(context)
            if feature is not None:
                features.append(feature)
        answers = dict(declared.answers)
        success_headers = {}
        security = []
        extensions = {}
        for feature in features:
            for name, values in feature.extensions.items():
                extensions.setdefault(name, []).extend(
                    value for value in values if value not in extensions[name]
                )
            for code, answer in feature.answers.items():
                answers.setdefault(code, answer)
            success_headers.update(feature.success_headers)
            security.extend(requirement for requirement in feature.security if requirement not in security)
            for name, scheme in feature.security_schemes.items():
                self.component(Component("securitySchemes", name, scheme))
        operation = {
            "operationId": declared.operation_id or f"{method}_{rule.endpoint}",
            "summary": declared.summary,
            "tags": [declared.tag.name],
        }
        if declared.description:
            operation["description"] = declared.description
        if parameters:
            operation["parameters"] = [self.parameter(parameter) for parameter in parameters]
        if declared.body is not None:
            media = {"schema": self.resolve(declared.body)}
            if declared.example is not None:
                media["example"] = declared.example
            operation["requestBody"] = {
                "required": declared.body_required,
                "content": {"application/json": media},
            }
        operation["responses"] = {
            str(code): self.answer(answer, success_headers if 200 <= code < 300 else None)
            for code, answer in sorted(answers.items())
        }
        operation["security"] = security  # [] says it: this operation needs no key
        operation.update(extensions)
        self.tags.setdefault(declared.tag.name, declared.tag)
        return operation

    def add_rule(self, rule, view_class):
        """Document every method of one URL rule; refuse a method that its resource does not describe."""
        docs = getattr(view_class, "docs", None) or {}
        operations = {}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            method = method.lower()
            if method not in docs:
                raise LookupError(
                    f"{method.upper()} {rule.rule} ({view_class.__name__}) has no OpenAPI description: "
                    f'add "{method}": Operation(...) to {view_class.__name__}.docs'
                )
            operations[method] = self.operation(rule, view_class, method, docs[method])
        self.spec.path(path=openapi_path(rule), operations=operations)

    def to_dict(self, tag_order=()):
        """The document; tags in tag_order (the order their routes were added), descriptions included."""
        spec = self.spec.to_dict()
        order = [name for name in tag_order if name in self.tags]
        order += [name for name in self.tags if name not in order]
        spec["tags"] = [
            {"name": name, "description": self.tags[name].description}
            if self.tags[name].description
            else {"name": name}
            for name in order
        ]
        return spec


COMPONENT_ADDERS = {
    "schemas": "schema",
    "responses": "response",
    "headers": "header",
    "securitySchemes": "security_scheme",
}


def decorator_features(view_class, method):
    """The Features documented by the decorators on a resource's method (Flask-RESTful's method_decorators)."""
    decorators = view_class.method_decorators
    if isinstance(decorators, Mapping):
        decorators = decorators.get(method, [])
    return [
        decorator.openapi
        for decorator in decorators
        if isinstance(getattr(decorator, "openapi", None), Feature)
    ]


@dataclass
class SpecParts:
    """What an app gives its spec beyond the URL map: its info and its contributors; the spec once built."""

    info: dict = field(default_factory=lambda: {"title": "API", "version": "1.0.0"})
    contributors: list[Callable] = field(default_factory=list)
    spec: dict | None = None


def spec_parts(app):
    """The app's SpecParts, made on first use."""
    return app.extensions.setdefault("phoenix.openapi", SpecParts())


def describe(app, **info):
    """Set the document's info: title, version, description, license, ..."""
    spec_parts(app).info = info


def contribute(app, contributor):
    """Add contributor(context) -> Feature or None: something to add to each operation it applies to."""
    spec_parts(app).contributors.append(contributor)


def build_spec(app):
    """The OpenAPI document of app, as a dict: every URL rule, every method but HEAD and OPTIONS."""
    parts = spec_parts(app)
    writer = SpecWriter(parts.info, parts.contributors)
    rules = list(app.url_map.iter_rules())  # in the order they were added
    tag_order = []
    for rule in rules:
        for operation in (getattr(view_class_of(app, rule), "docs", None) or {}).values():
            if operation.tag.name not in tag_order:
                tag_order.append(operation.tag.name)
    with warnings.catch_warnings():
        # apispec warns about Meta.fields; our schemas declare every field they list there.
        warnings.filterwarnings("ignore", message="Only explicitly-declared fields", category=UserWarning)
        for rule in sorted(rules, key=lambda rule: (rule.rule, rule.endpoint)):
            writer.add_rule(rule, view_class_of(app, rule))
        return writer.to_dict(tag_order)


def view_class_of(app, rule):
    """The resource class behind a rule (or its view function)."""
    view = app.view_functions[rule.endpoint]
    return getattr(view, "view_class", view)


def spec_for(app):
    """The app's OpenAPI document, built once (the URL map does not change once the app is made)."""
    parts = spec_parts(app)
    if parts.spec is None:
        parts.spec = build_spec(app)
    return parts.spec
