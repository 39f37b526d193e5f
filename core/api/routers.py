"""The router every app's API uses: ids in URLs are 64-bit integers, as in the pages."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from core.converters import IdConverter


class Router(DefaultRouter):
    """An id past 64 bits (`/api/aks/9223372036854775808/`) matches no URL, so it is a 404
    instead of an overflow in the database. A viewset that looks objects up by something else
    (a slug) gives its own `lookup_value_regex`."""

    def get_lookup_regex(self, viewset, lookup_prefix=""):
        lookup_field = getattr(viewset, "lookup_field", "pk")
        lookup_url_kwarg = getattr(viewset, "lookup_url_kwarg", None) or lookup_field
        lookup_value = getattr(viewset, "lookup_value_regex", None) or IdConverter.regex
        return f"(?P<{lookup_prefix}{lookup_url_kwarg}>{lookup_value})"
