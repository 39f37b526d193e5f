"""One error body for every API failure: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    code = getattr(exc, "default_code", "error")
    fields = {}
    if isinstance(data, dict) and "detail" not in data:
        fields = data
        message = "Invalid input: " + ", ".join(sorted(str(key) for key in data))
        code = "invalid"
    elif isinstance(data, dict):
        message = _flatten(data["detail"])
        code = getattr(data["detail"], "code", code)
    else:
        message = _flatten(data)
    response.data = {"error": {"code": code, "message": message, "fields": fields}, **fields}
    return response
