from django.conf import settings
from django.core.management.base import BaseCommand

from core.crypto import rotate_keys, verify_keys


class Command(BaseCommand):
    help = (
        "Add a new Fernet key in front of the current ones and re-encrypt every stored secret "
        "with it. With the key file, the file is updated; with ENCRYPTION_KEYS, the new list "
        "to set is printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--new-key", help="Use this Fernet key instead of generating one.")

    def handle(self, *args, new_key=None, **options):
        verify_keys()
        key, count = rotate_keys(new_key=new_key)
        self.stdout.write(f"Re-encrypted {count} secret(s) with the new key.")
        if settings.ENCRYPTION_KEYS:
            keys = ",".join([key, *settings.ENCRYPTION_KEYS])
            self.stdout.write(
                "Set ENCRYPTION_KEYS to the following before the next start (old keys may be "
                f"dropped once every process runs with it):\n{keys}"
            )
        else:
            self.stdout.write(f"Updated {settings.ENCRYPTION_KEY_FILE}.")
