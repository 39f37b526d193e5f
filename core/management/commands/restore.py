from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.backup import BackupError, backup_restore
from core.crypto import EncryptionKeyError


class Command(BaseCommand):
    help = (
        "Restore an archive written by `manage.py backup` into an empty database and data "
        "directory, then check that every stored secret decrypts."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="The archive to restore.")

    def handle(self, *args, path: Path, **options):
        try:
            report = backup_restore(path=path)
        except (BackupError, EncryptionKeyError) as exc:
            raise CommandError(str(exc)) from exc
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"Warning (from the backup): {warning}"))
        keys = "its encryption keys, " if report.keys else ""
        self.stdout.write(
            f"Restored the {report.database} database, {keys}{report.files} uploaded files; "
            f"{report.secrets_checked} stored secrets decrypt."
        )
