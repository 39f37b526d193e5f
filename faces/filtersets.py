import django_filters
from django.db.models import Q

from core.filtersets import UtcDateTimeFilter
from faces.choices import ImageStatus
from faces.models import FaceImage, Person


class FaceImageFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ImageStatus.choices)
    person = django_filters.CharFilter(
        method="filter_person", help_text="A person's id or name (case-insensitive)."
    )
    unknown = django_filters.BooleanFilter(
        method="filter_unknown",
        help_text="Only images with (true) or without (false) an unknown face.",
    )
    volume = django_filters.CharFilter()
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = FaceImage
        fields = ["status", "person", "volume", "source", "created_after", "created_before"]

    def filter_person(self, queryset, name, value):
        value = value.strip()
        match = Q(faces__person__name__iexact=value)
        if value.isdecimal() and len(value) <= 18:  # isdigit() passes "²", which int() refuses
            match |= Q(faces__person_id=int(value))
        return queryset.filter(match).distinct()

    def filter_unknown(self, queryset, name, value):
        unknown = Q(faces__isnull=False, faces__person__isnull=True)
        return (queryset.filter(unknown) if value else queryset.exclude(unknown)).distinct()


class PersonFilterSet(django_filters.FilterSet):
    class Meta:
        model = Person
        fields = []
