from django.apps import AppConfig


class ControlPanelConfig(AppConfig):
    """The project package as an app only for its management command (`bootstrap_demo`)."""

    name = "controlpanel"
    verbose_name = "Control panel"
