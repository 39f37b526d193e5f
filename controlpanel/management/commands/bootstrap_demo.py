"""First-start set-up for `make run` (and the Kubernetes install's migrate Job): encryption
key, admin account, the local cluster or the cluster the panel runs in.

Safe to run at every start: it only creates what is missing.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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
        password = None
        if not user_model.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            user = user_create(actor=SYSTEM, username="admin", password=password, role=Role.ADMIN)
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        if settings.IN_CLUSTER:
            cluster, created = cluster_ensure_in_cluster()
            if created:
                self.stdout.write(f"Created {cluster.name!r}, the cluster the panel runs in "
                                  f"({cluster.status}).")  # fmt: skip
        if not settings.LOCAL_CLUSTER_ENABLED:
            self.stdout.write("The local cluster is off (LOCAL_CLUSTER_ENABLED=false).")
            bootstrap_presets()
            if password is not None:
                self._announce_admin(password)
            return
        cluster, created = cluster_ensure_local()
        if created:
            self.stdout.write(f"Created the local cluster {cluster.name!r}.")
        self._extra_steps()
        # Last, so that it does not scroll past between the install output and the processes'.
        if password is not None:
            self._announce_admin(password)

    def _announce_admin(self, password: str) -> None:
        """The first password in a box, and in a file only the panel's user can read (the
        processes' logs follow at once under `make run`), until the admin deletes it."""
        path = Path(settings.DATA_DIR) / "admin-password.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(password + "\n")
        os.chmod(path, 0o600)
        lines = [
            "Admin account created. Log in at the dashboard with",
            "  username: admin",
            f"  password: {password}",
            f"Also written to {path} (mode 0600):",
            "delete that file once you have logged in. Only a hash is stored.",
            "Change it with: .venv/bin/python manage.py changepassword admin",
        ]
        width = max(len(line) for line in lines) + 2
        self.stdout.write("\n+" + "-" * width + "+")
        for line in lines:
            self.stdout.write(f"| {line.ljust(width - 1)}|")
        self.stdout.write("+" + "-" * width + "+\n")

    def _extra_steps(self) -> None:
        """Demo data of the apps: workload presets, the demo cameras, the face back-end."""
        for step in (bootstrap_presets, bootstrap_demo_cameras, bootstrap_face_service):
            for line in step() or []:
                self.stdout.write(line)
