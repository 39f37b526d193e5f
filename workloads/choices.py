"""Constants of the workloads app."""

from django.db import models


class TemplateKind(models.TextChoices):
    LANE_DETECTION = "lane-detection", "Lane detection batch"
    FACE_IDENTIFICATION = "face-identification", "Face identification batch"
    CAMERA_STREAM = "camera-stream", "Camera stream"
    FACE_RECOGNITION_SERVICE = "face-recognition-service", "Face recognition service"
    GPU_JOB = "gpu-job", "GPU job"
    RAW_MANIFEST = "raw-manifest", "Raw manifest"


class RunState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUBMITTED = "submitted", "Submitted"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    LOST = "lost", "Lost"


ACTIVE_STATES = (RunState.PENDING, RunState.SUBMITTED, RunState.RUNNING)
FINAL_STATES = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.LOST)


class PodPhase(models.TextChoices):
    PENDING = "Pending", "Pending"
    RUNNING = "Running", "Running"
    SUCCEEDED = "Succeeded", "Succeeded"
    FAILED = "Failed", "Failed"
    UNKNOWN = "Unknown", "Unknown"


class CameraProcessing(models.TextChoices):
    NONE = "none", "None"
    LANES = "lanes", "Lane detection"
    FACES = "faces", "Face identification"


class OutputKind(models.TextChoices):
    VIDEO = "video", "Video"
    IMAGE = "image", "Image"
    FILE = "file", "File"
    STREAM = "stream", "Stream"


class FaceStatus(models.TextChoices):
    IDENTIFIED = "identified", "Identified"
    UNKNOWN = "unknown", "Unknown"
    NO_FACE = "no_face", "No face"
    ERROR = "error", "Error"


MANAGED_BY = "controlpanel"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RUN_ID = "controlpanel.io/run-id"
