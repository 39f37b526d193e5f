"""Cameras, which were part of the workloads app before the layout with one folder per
capability. The model moves here in Django's state; its table, rows included, is renamed from
`workloads_camera` (which `workloads.0001_initial` creates on a fresh installation)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, old="workloads", new="cameras"):
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(
        schema_editor.connection.alias
    )
    if not content_types.filter(app_label=new, model="camera").exists():
        content_types.filter(app_label=old, model="camera").update(app_label=new)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, old="cameras", new="workloads")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("workloads", "0002_monitor_and_progress"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Camera",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=100, unique=True)),
                        ("source_url", models.CharField(blank=True, max_length=1000)),
                        ("processing", models.CharField(choices=[("none", "None"), ("lanes", "Lane detection"), ("faces", "Face identification")], default="none", max_length=8)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("run", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="cameras", to="workloads.run")),
                    ],
                    options={"ordering": ["name"], "db_table": "workloads_camera"},
                ),
            ],
        ),
        # The default table name, cameras_camera: a real rename.
        migrations.AlterModelTable(name="camera", table=None),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
