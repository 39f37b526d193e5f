"""First-start set-up for `make run` (and the Kubernetes install's migrate Job): encryption
key, admin account, the local cluster or the cluster the panel runs in.

Safe to run at every start: it only creates what is missing.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from cameras.bootstrap import bootstrap_demo_cameras
from clusters.services import cluster_ensure_in_cluster, cluster_ensure_local
from core.choices import Role
from core.crypto import ensure_key_file
from core.services import SYSTEM, user_create
from faces.bootstrap import bootstrap_face_service
from workloads.bootstrap import bootstrap_demo as bootstrap_presets


class Command(BaseCommand):
    help = "Create the encryption key, the admin account and the local cluster when missing."

    def handle(self, *args, **options):
        if ensure_key_file():
            self.stdout.write("Generated a new encryption key file (mode 0600).")
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            user = user_create(actor=SYSTEM, username="admin", password=password, role=Role.ADMIN)
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
            bar = "=" * 64
            self.stdout.write(
                f"\n{bar}\n  Admin account created. Log in at the dashboard with\n"
                f"    username: admin\n    password: {password}\n"
                "  This password is shown once and stored only as a hash.\n"
                f"  Change it with: .venv/bin/python manage.py changepassword admin\n{bar}\n"
            )
        if settings.IN_CLUSTER:
            cluster, created = cluster_ensure_in_cluster()
            if created:
                self.stdout.write(f"Created {cluster.name!r}, the cluster the panel runs in "
                                  f"({cluster.status}).")  # fmt: skip
        if not settings.LOCAL_CLUSTER_ENABLED:
            self.stdout.write("The local cluster is off (LOCAL_CLUSTER_ENABLED=false).")
            bootstrap_presets()
            return
        cluster, created = cluster_ensure_local()
        if created:
            self.stdout.write(f"Created the local cluster {cluster.name!r}.")
        self._extra_steps()

    def _extra_steps(self) -> None:
        """Demo data of the apps: workload presets, the demo cameras, the face back-end."""
        for step in (bootstrap_presets, bootstrap_demo_cameras, bootstrap_face_service):
            for line in step() or []:
                self.stdout.write(line)
