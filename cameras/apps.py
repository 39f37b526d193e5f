from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "cameras"
    verbose_name = "Cameras"

    def ready(self) -> None:
        from cameras import signals  # noqa: F401  (tells open sockets of changes made anywhere)
