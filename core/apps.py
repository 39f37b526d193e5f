from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Accounts and audit"

    def ready(self) -> None:
        from core import signals  # noqa: F401  (connects the audit receivers)
