"""The base of every Phoenix resource: Flask-RESTful's Resource, with its work per request done once."""

from collections.abc import Mapping

from flask import request
from flask_restful import Resource
from werkzeug.exceptions import MethodNotAllowed


class PhoenixResource(Resource):
    """Flask-RESTful's Resource, one instance serving every request, each method decorated once.

    For each request Flask-RESTful makes a new instance, wraps the method anew in each of its
    method_decorators (a functools.wraps a decorator), and parses the Accept header to choose among the
    resource's own representations, which no Phoenix resource has (PhoenixApi answers JSON whatever is
    asked). A Phoenix resource keeps nothing of a request on self, so the instance and its decorated
    methods are made once. HEAD runs GET's handler with GET's decorators (Flask-RESTful looks up HEAD's,
    none, and so would skip the key check and the transaction of a GET that has them).
    """

    init_every_request = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.handlers = {}  # method name -> the method wrapped in its method_decorators

    def dispatch_request(self, *args, **kwargs):
        method = request.method.lower()
        handler = self.handlers.get(method)
        if handler is None:
            handler = self.handlers[method] = self.decorated(method)
        return handler(*args, **kwargs)

    def decorated(self, method):
        """The resource's handler of method, wrapped in its method_decorators (the first innermost)."""
        if method == "head" and not hasattr(self, "head"):
            method = "get"
        handler = getattr(self, method, None)
        if handler is None:
            raise MethodNotAllowed()
        decorators = self.method_decorators
        if isinstance(decorators, Mapping):
            decorators = decorators.get(method, [])
        for decorator in decorators:
            handler = decorator(handler)
        return handler
