"""The panel's database before the layout with one folder per capability, and the check that an
upgrade keeps every row of it.

Run in a child process against a database of its own (`python -m tests.core.layout_upgrade
build|check`, with DATABASE_URL naming it), so the suite's own test database is never touched:

- build: Django's and the apps' real migrations up to the last ones before the layout, plus the
  project package's own migration of that time (frozen below: it is no longer in the code), then
  rows in every table that moved, through the historical models. Prints the token in JSON.
- check: after `manage.py migrate`, reads every row back through today's models, calls the API
  with the token and decrypts the secret. Prints what it found in JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# controlpanel/migrations/0001_initial.py as it was (accounts and the audit log).
OPERATIONS = [
    migrations.CreateModel(
        name="ApiToken",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("name", models.CharField(max_length=100)),
            (
                "prefix",
                models.CharField(help_text="First characters, to recognise it.", max_length=12),
            ),
            ("digest", models.CharField(max_length=64, unique=True)),
            ("created_at", models.DateTimeField(auto_now_add=True)),
            ("last_used_at", models.DateTimeField(blank=True, null=True)),
            ("revoked_at", models.DateTimeField(blank=True, null=True)),
            (
                "user",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="api_tokens",
                    to=settings.AUTH_USER_MODEL,
                ),
            ),
        ],
        options={
            "ordering": ["-created_at"],
        },
    ),
    migrations.CreateModel(
        name="AuditEvent",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
            ("actor_name", models.CharField(blank=True, max_length=150)),
            (
                "action",
                models.CharField(
                    choices=[
                        ("create", "Create"),
                        ("update", "Update"),
                        ("delete", "Delete"),
                        ("login", "Log in"),
                        ("logout", "Log out"),
                        ("login_failed", "Failed log-in"),
                        ("test", "Test connection"),
                        ("rotate", "Rotate keys"),
                        ("cancel", "Cancel"),
                        ("view", "View"),
                    ],
                    max_length=20,
                ),
            ),
            ("object_type", models.CharField(db_index=True, max_length=50)),
            ("object_id", models.CharField(blank=True, max_length=64)),
            ("object_repr", models.CharField(blank=True, max_length=200)),
            ("changes", models.JSONField(blank=True, default=dict)),
            ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
            ("user_agent", models.CharField(blank=True, max_length=300)),
            (
                "actor",
                models.ForeignKey(
                    blank=True,
                    null=True,
                    on_delete=django.db.models.deletion.SET_NULL,
                    to=settings.AUTH_USER_MODEL,
                ),
            ),
        ],
        options={
            "ordering": ["-created_at", "-id"],
        },
    ),
    migrations.CreateModel(
        name="Profile",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            (
                "role",
                models.CharField(
                    choices=[("viewer", "Viewer"), ("operator", "Operator"), ("admin", "Admin")],
                    default="viewer",
                    max_length=16,
                ),
            ),
            (
                "user",
                models.OneToOneField(
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="profile",
                    to=settings.AUTH_USER_MODEL,
                ),
            ),
        ],
    ),
]

# The last migration of each app before the layout (the project package's is applied by hand).
PRE_LAYOUT = {"clusters": "0003_azure", "workloads": "0002_monitor_and_progress"}
DJANGO_APPS = ("admin", "auth", "contenttypes", "sessions")
LEGACY = "legacy_controlpanel"
TOKEN = "cp_layout-upgrade-token-0123456789abcdefghij"
SECRET = {"kubeconfig": "apiVersion: v1\nkind: Config\n# the upgrade keeps this readable\n"}


def build() -> dict:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.recorder import MigrationRecorder
    from django.utils import timezone

    from core.crypto import encrypt

    executor = MigrationExecutor(connection)
    targets = [(app, name) for app, name in PRE_LAYOUT.items()]
    targets += [node for node in executor.loader.graph.leaf_nodes() if node[0] in DJANGO_APPS]
    executor.migrate(targets)
    state = executor.loader.project_state(targets)
    # The label `controlpanel` is taken by today's (model-less) project app, so the old models
    # get another label in this state, and the tables their old names.
    with connection.schema_editor() as editor:
        for operation in OPERATIONS:
            operation.options["db_table"] = f"controlpanel_{operation.name_lower}"
            after = state.clone()
            operation.state_forwards(LEGACY, after)
            operation.database_forwards(LEGACY, editor, state, after)
            state = after
    MigrationRecorder(connection).record_applied("controlpanel", "0001_initial")

    apps = state.apps
    for model in apps.get_models():  # what post_migrate made for every installed model
        label = "controlpanel" if model._meta.app_label == LEGACY else model._meta.app_label
        apps.get_model("contenttypes", "ContentType").objects.get_or_create(
            app_label=label, model=model._meta.model_name
        )
    user = apps.get_model("auth", "User").objects.create(
        username="ops", email="ops@example.org", password="!", is_active=True
    )
    apps.get_model(LEGACY, "Profile").objects.create(user=user, role="operator")
    apps.get_model(LEGACY, "ApiToken").objects.create(
        user=user, name="ci", prefix=TOKEN[:10], digest=hashlib.sha256(TOKEN.encode()).hexdigest()
    )
    credential = apps.get_model("clusters", "Credential").objects.create(
        name="edge", kind="kubeconfig", context="edge", secret_data=encrypt(json.dumps(SECRET))
    )
    cluster = apps.get_model("clusters", "Cluster").objects.create(
        name="edge", kind="kubernetes", credential=credential
    )
    template = apps.get_model("workloads", "WorkloadTemplate").objects.create(
        slug="lanes", name="Lanes", kind="lane-detection"
    )
    run = apps.get_model("workloads", "Run").objects.create(
        template=template, cluster=cluster, state="succeeded", log_cursor=3
    )
    for cursor in (1, 2, 3):
        apps.get_model("workloads", "RunLogLine").objects.create(
            run=run, cursor=cursor, pod="pod-a", text=f"line {cursor}", time=timezone.now()
        )
    apps.get_model("workloads", "Camera").objects.create(
        name="gate", source_url="http://camera.example/stream.mjpg", run=run, processing="lanes"
    )
    audit = apps.get_model(LEGACY, "AuditEvent").objects
    audit.create(actor=user, actor_name="ops", action="create", object_type="cluster",
                 object_id=str(cluster.pk), object_repr="edge")  # fmt: skip
    audit.create(actor=None, actor_name="system", action="login_failed", object_type="user")
    return {"token": TOKEN, "run": run.pk, "user": user.pk}


def check() -> dict:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder
    from django.test import Client

    from cameras.models import Camera
    from clusters.models import Cluster, Credential
    from core.models import ApiToken, AuditEvent, Profile
    from workloads.models import Run

    me = Client().get("/api/me/", HTTP_AUTHORIZATION=f"Token {TOKEN}")
    camera = Camera.objects.select_related("run").get()

    return {
        "me": {"status": me.status_code, **(me.json() if me.status_code == 200 else {})},
        "role": Profile.objects.get().role,
        "tokens": ApiToken.objects.count(),
        "secret": Credential.objects.get().secrets(),
        "cluster": Cluster.objects.get().name,
        "log": list(Run.objects.get().log_lines.order_by("cursor").values_list("text", flat=True)),
        "camera": {"name": camera.name, "run": camera.run_id, "processing": camera.processing},
        "audit": sorted(AuditEvent.objects.values_list("action", flat=True)),
        "tables": sorted(
            t
            for t in connection.introspection.table_names()
            if t.startswith(("controlpanel_", "core_", "cameras_", "workloads_camera"))
        ),  # fmt: skip
        "content_types": sorted(
            f"{ct.app_label}.{ct.model}"
            for ct in ContentType.objects.filter(
                model__in=["profile", "apitoken", "auditevent", "camera"]
            )
        ),  # fmt: skip
        "legacy_migrations": MigrationRecorder(connection)
        .migration_qs.filter(app="controlpanel")
        .count(),  # fmt: skip
    }


if __name__ == "__main__":
    django.setup()
    step = {"build": build, "check": check}[sys.argv[1]]
    print(json.dumps(step(), default=str))
