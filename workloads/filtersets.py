import django_filters

from core.filtersets import UtcDateTimeFilter
from workloads.models import Run, WorkloadTemplate


class RunFilterSet(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__slug")
    cluster = django_filters.CharFilter(field_name="cluster__name")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["state", "template", "cluster", "created_by"]


class TemplateFilterSet(django_filters.FilterSet):
    class Meta:
        model = WorkloadTemplate
        fields = ["kind", "is_preset"]
