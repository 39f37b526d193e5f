from django.core.management.base import BaseCommand, CommandError

from core.crypto import EncryptionKeyError, verify_keys


class Command(BaseCommand):
    help = "Fail with a fix when the encryption keys cannot read the stored secrets."

    def handle(self, *args, **options):
        try:
            verify_keys()
        except EncryptionKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("Encryption keys OK.")
