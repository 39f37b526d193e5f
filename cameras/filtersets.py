import django_filters

from cameras.models import Camera


class CameraFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    gone = django_filters.BooleanFilter(field_name="gone_at", lookup_expr="isnull", exclude=True)
    discovered_by_akri = django_filters.BooleanFilter(
        field_name="akri_instance", lookup_expr="exact", exclude=True, method="_akri"
    )

    class Meta:
        model = Camera
        fields = ["name", "cluster", "processing", "restricted"]

    def _akri(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.exclude(akri_instance="") if value else queryset.filter(akri_instance="")
