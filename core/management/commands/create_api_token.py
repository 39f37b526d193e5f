from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.services import SYSTEM, token_create


class Command(BaseCommand):
    help = "Mint a personal API token for USERNAME and print it (for automation)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="automation", help="A label for the token.")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        _token, plaintext = token_create(actor=SYSTEM, user=user, name=name)
        self.stdout.write(plaintext)
