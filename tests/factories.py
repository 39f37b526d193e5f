"""factory_boy factories for the panel's models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from clusters.choices import ClusterKind, ClusterStatus
from clusters.models import Cluster
from core.choices import Role
from core.models import Profile


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create:
            Profile.objects.update_or_create(user=self, defaults={"role": extracted or Role.VIEWER})
            self.save()


class LocalClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster
        django_get_or_create = ("name",)

    name = "local"
    kind = ClusterKind.LOCAL
    status = ClusterStatus.HEALTHY
