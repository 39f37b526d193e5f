"""Seeds the preset templates (idempotent). Called by `manage.py bootstrap_demo` (make run)."""

from __future__ import annotations

from workloads.choices import TemplateKind
from workloads.models import WorkloadTemplate

SAMPLE_MANIFEST = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: hello
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      securityContext:  # what the restricted Pod Security level asks for
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: hello
          image: ghcr.io/controlpanel/media-pipeline:latest
          args: ["samples"]
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
"""

PRESETS = [
    {
        "slug": TemplateKind.LANE_DETECTION, "kind": TemplateKind.LANE_DETECTION,
        "name": "Lane detection batch",
        "description": "Finds lane lines in dashcam images and videos and writes annotated copies. "
        "With no inputs it processes the bundled sample footage. Set a volume, input paths and "
        "parallelism to split a folder of footage over several pods.",
        "params": {},
    },
    {
        "slug": TemplateKind.FACE_IDENTIFICATION, "kind": TemplateKind.FACE_IDENTIFICATION,
        "name": "Face identification batch",
        "description": "Identifies people in photos against a folder of known faces "
        "(<person>_<N>.jpg). With no parameters it uses the bundled sample photos.",
        "params": {},
    },
    {
        "slug": TemplateKind.CAMERA_STREAM, "kind": TemplateKind.CAMERA_STREAM,
        "name": "Camera stream",
        "description": "Serves a camera (RTSP, HTTP MJPEG, file, test pattern) as MJPEG, "
        "optionally with lane or face overlays: a Deployment and a Service on Kubernetes.",
        "params": {},
    },
    {
        "slug": TemplateKind.FACE_RECOGNITION_SERVICE, "kind": TemplateKind.FACE_RECOGNITION_SERVICE,
        "name": "Face recognition service",
        "description": "The face-recognition back-end (detect + encode over HTTP, /healthz, "
        "Prometheus /metrics) that the faces service calls: a Deployment with a Service on "
        "Kubernetes, processes on ports of their own on the local cluster. Scale it with "
        "replicas; it reads images from the cluster's volumes (all of them unless you list some).",
        "params": {},
    },
    {
        "slug": TemplateKind.GPU_JOB, "kind": TemplateKind.GPU_JOB, "name": "GPU job",
        "description": "Any image on nodes with NVIDIA GPUs (nvidia.com/gpu), e.g. the workshop's "
        "MNIST training: a Job retried on failure, with the nodes' NVIDIA driver folder mounted "
        "read-only where the nodes need it (AKS N-series). Needs a Kubernetes cluster whose nodes "
        "report nvidia.com/gpu; its accuracy per step is charted on the run page.",
        "params": {"image": "wbuchwalter/tf-mnist:gpu", "gpus": 1, "args": ["--max_steps", "500"],
                   "restart_policy": "OnFailure", "metrics": ["Accuracy"]},
    },
    {
        "slug": TemplateKind.RAW_MANIFEST, "kind": TemplateKind.RAW_MANIFEST, "name": "Raw manifest",
        "description": "Kubernetes YAML, checked against the official schemas before it is sent.",
        "params": {"manifest": SAMPLE_MANIFEST},
    },
]  # fmt: skip


def bootstrap_demo() -> list[str]:
    lines = []
    for preset in PRESETS:
        _, created = WorkloadTemplate.objects.update_or_create(
            slug=preset["slug"], defaults={**preset, "is_preset": True}
        )
        lines.append(f"template {preset['slug']}: {'created' if created else 'up to date'}")
    return lines
