"""One error body for every API failure: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework.exceptions import ParseError
from rest_framework.views import exception_handler as drf_exception_handler

# Django's limits on a request body, met while DRF parses it inside the view.
BODY_LIMITS = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def _listed(value):
    """A field's errors as a list, as DRF clients expect (a view that raises
    `ValidationError({"field": "text"})` would otherwise send a bare string)."""
    if isinstance(value, dict):
        return {key: _listed(item) for key, item in value.items()}
    return value if isinstance(value, list) else [value]


def exception_handler(exc, context):
    if isinstance(exc, BODY_LIMITS):
        exc = ParseError(str(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    code = getattr(exc, "default_code", "error")
    fields = {}
    if isinstance(data, dict) and "detail" not in data:
        fields = _listed(data)
        message = "Invalid input: " + ", ".join(sorted(str(key) for key in data))
        code = "invalid"
    elif isinstance(data, dict):
        message = _flatten(data["detail"])
        code = getattr(data["detail"], "code", code)
    else:
        message = _flatten(data)
    response.data = {"error": {"code": code, "message": message, "fields": fields}, **fields}
    return response
