from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.backup import BackupError, backup_write


class Command(BaseCommand):
    help = (
        "Write one archive of the database (a consistent copy, while the panel runs), the "
        "encryption keys (when they come from the key file) and the uploaded files."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="Where to write the archive (.tar.gz).")

    def handle(self, *args, path: Path, **options):
        try:
            report = backup_write(path=path)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        keys = "the encryption keys, " if report.keys else ""
        self.stdout.write(
            f"Backed up the {report.database} database, {keys}{report.files} uploaded files "
            f"to {report.path}."
        )
