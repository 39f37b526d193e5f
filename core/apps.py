from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Accounts and audit"

    def ready(self) -> None:
        from django.urls import register_converter

        from core import signals  # noqa: F401  (connects the audit receivers)
        from core.converters import IdConverter

        register_converter(IdConverter, "id")
