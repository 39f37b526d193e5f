"""Run one AzureOperation in this process (the test kills it mid-way): python -m ... <id>."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")
django.setup()

from django.conf import settings  # noqa: E402

from clusters.azure.operations import operation_run  # noqa: E402

settings.AZURE_POLL_INTERVAL = 0.02
print(operation_run(operation_id=int(sys.argv[1])))
