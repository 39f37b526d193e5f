from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from core.models import AuditEvent


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, as UTC. Python takes offsets up to 23:59 but PostgreSQL only 15:59, so
    a time is converted before it reaches a query; one that cannot be is bad input."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Out of the range of dates.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """The filter every app's time ranges use (see UtcDateTimeField)."""

    field_class = UtcDateTimeField


class AuditEventFilterSet(django_filters.FilterSet):
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    actor = django_filters.CharFilter(field_name="actor_name")

    class Meta:
        model = AuditEvent
        fields = ["action", "object_type", "object_id", "actor", "since", "until"]
