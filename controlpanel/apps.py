from django.apps import AppConfig


class ControlPanelConfig(AppConfig):
    name = "controlpanel"
    verbose_name = "Control panel"

    def ready(self) -> None:
        from controlpanel import signals  # noqa: F401  (connects the audit receivers)
