"""Users' roles, API tokens and the audit log.

They lived in the project package (app label `controlpanel`) until the layout with one folder
per capability. An installation from before then keeps its rows: its tables are renamed, not
recreated, and their content types follow them. A fresh installation gets new tables.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

LEGACY_APP = "controlpanel"
LEGACY_TABLES = {
    "profile": "controlpanel_profile",
    "apitoken": "controlpanel_apitoken",
    "auditevent": "controlpanel_auditevent",
}


def _recorder(schema_editor):
    from django.db.migrations.recorder import MigrationRecorder

    return MigrationRecorder(schema_editor.connection)


def adopt_or_create_tables(apps, schema_editor):
    tables = set(schema_editor.connection.introspection.table_names())
    for model_name, legacy in LEGACY_TABLES.items():
        model = apps.get_model("core", model_name)
        if legacy in tables:
            schema_editor.alter_db_table(model, legacy, model._meta.db_table)
        else:
            schema_editor.create_model(model)
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(
        schema_editor.connection.alias
    )
    for model_name in LEGACY_TABLES:
        if not content_types.filter(app_label="core", model=model_name).exists():
            content_types.filter(app_label=LEGACY_APP, model=model_name).update(app_label="core")
    # The project package is still an app (for its commands); a stale record of its old
    # migration would make Django take a future migration of that name as already applied.
    _recorder(schema_editor).migration_qs.filter(app=LEGACY_APP).delete()


def hand_tables_back(apps, schema_editor):
    """Downgrade: the tables, content types and migration record the previous release knows."""
    for model_name, legacy in LEGACY_TABLES.items():
        model = apps.get_model("core", model_name)
        schema_editor.alter_db_table(model, model._meta.db_table, legacy)
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(
        schema_editor.connection.alias
    )
    content_types.filter(app_label="core", model__in=list(LEGACY_TABLES)).update(
        app_label=LEGACY_APP
    )
    _recorder(schema_editor).record_applied(LEGACY_APP, "0001_initial")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='ApiToken',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('name', models.CharField(max_length=100)),
                    ('prefix', models.CharField(help_text='First characters, to recognise it.', max_length=12)),
                    ('digest', models.CharField(max_length=64, unique=True)),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('last_used_at', models.DateTimeField(blank=True, null=True)),
                    ('revoked_at', models.DateTimeField(blank=True, null=True)),
                    ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'ordering': ['-created_at'],
                },
            ),
            migrations.CreateModel(
                name='AuditEvent',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                    ('actor_name', models.CharField(blank=True, max_length=150)),
                    ('action', models.CharField(choices=[('create', 'Create'), ('update', 'Update'), ('delete', 'Delete'), ('login', 'Log in'), ('logout', 'Log out'), ('login_failed', 'Failed log-in'), ('test', 'Test connection'), ('rotate', 'Rotate keys'), ('cancel', 'Cancel'), ('view', 'View')], max_length=20)),
                    ('object_type', models.CharField(db_index=True, max_length=50)),
                    ('object_id', models.CharField(blank=True, max_length=64)),
                    ('object_repr', models.CharField(blank=True, max_length=200)),
                    ('changes', models.JSONField(blank=True, default=dict)),
                    ('ip_address', models.GenericIPAddressField(blank=True, null=True)),
                    ('user_agent', models.CharField(blank=True, max_length=300)),
                    ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'ordering': ['-created_at', '-id'],
                },
            ),
            migrations.CreateModel(
                name='Profile',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('role', models.CharField(choices=[('viewer', 'Viewer'), ('operator', 'Operator'), ('admin', 'Admin')], default='viewer', max_length=16)),
                    ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='profile', to=settings.AUTH_USER_MODEL)),
                ],
            ),
            ],
        ),
        migrations.RunPython(adopt_or_create_tables, hand_tables_back),
    ]
