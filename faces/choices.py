"""Constants of the face-recognition service."""

from django.db import models


class ImageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class ImageSource(models.TextChoices):
    VOLUME = "volume", "Path on a volume"
    UPLOAD = "upload", "Uploaded"


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed"
    OPEN = "open", "Open"
    HALF_OPEN = "half-open", "Half-open"


# The preset that runs the recognition back-end (`media_pipeline faces-serve`).
SERVICE_TEMPLATE = "face-recognition-service"
# Reference photos are padded before detection, as the batch pipeline does (KNOWN_MARGIN).
KNOWN_MARGIN = 0.2
NAME_MAX_CHARS = 100
PATH_MAX_CHARS = 1024
PATHS_PER_REQUEST = 1000
ENCODING_SIZE = 128
