import django_filters

from clusters.models import Cluster, Credential


class ClusterFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Cluster
        fields = ["name", "kind", "status"]


class CredentialFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Credential
        fields = ["name", "kind", "test_status"]
