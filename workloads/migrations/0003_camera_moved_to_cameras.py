"""The camera model now belongs to the cameras app (see cameras.0001_initial, which takes over
its table); here it only leaves the workloads app's state."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("workloads", "0002_monitor_and_progress"),
        ("cameras", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Camera")]),
    ]
