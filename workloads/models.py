"""Workload templates, runs, and what a run leaves behind (pods, logs, events, outputs)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from workloads.choices import (
    ACTIVE_STATES,
    FaceStatus,
    OutputKind,
    PodPhase,
    RunState,
    TemplateKind,
)


class WorkloadTemplate(models.Model):
    """What to run: a kind (which renderer/command) plus parameter defaults.

    Presets ship with the panel (`is_preset`); operators save their own with other defaults.
    """

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=32, choices=TemplateKind.choices)
    description = models.TextField(blank=True, max_length=2000)
    params = models.JSONField(default=dict, blank=True, help_text="Parameter defaults.")
    is_preset = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_preset", "name"]

    def __str__(self) -> str:
        return self.name


class Run(models.Model):
    """One execution of a template on a cluster. The row is the truth about its state."""

    template = models.ForeignKey(WorkloadTemplate, on_delete=models.PROTECT, related_name="runs")
    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.PROTECT, related_name="runs")
    params = models.JSONField(default=dict, blank=True, help_text="Effective parameters.")
    state = models.CharField(
        max_length=16, choices=RunState.choices, default=RunState.PENDING, db_index=True
    )
    progress = models.PositiveSmallIntegerField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    error = models.TextField(blank=True)
    handle = models.JSONField(
        default=dict, blank=True, help_text="Runtime handle: pids, work dir, object names."
    )
    manifests = models.JSONField(
        default=list, blank=True,
        help_text="The Kubernetes objects the panel sent to start the run (its View YAML).",
    )  # fmt: skip
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Heartbeat of the monitor following this run; beat restarts monitors that went quiet.
    monitor_seen_at = models.DateTimeField(null=True, blank=True)
    monitor_token = models.CharField(max_length=32, blank=True)
    log_cursor = models.PositiveIntegerField(default=0, help_text="Last log cursor used.")
    cleaned_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The lists' order: a page of the newest runs reads 50 index entries instead of
        # sorting every run with its joined template, cluster and user (10,000 runs: 80 to
        # 180 ms, the sort spilling to disk, before this index).
        indexes = [models.Index(fields=["-created_at", "-id"], name="run_newest_first")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.template.slug} on {self.cluster.name})"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def group_name(self) -> str:
        return f"run-{self.pk}"


class RunPod(models.Model):
    """A pod (Kubernetes) or process (local) of a run, with where the monitor has read to."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="pods")
    name = models.CharField(max_length=253)
    phase = models.CharField(max_length=16, choices=PodPhase.choices, default=PodPhase.PENDING)
    exit_code = models.IntegerField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    # Why it waits, while it waits: the scheduler's "0/3 nodes are available: ..." and the like.
    message = models.TextField(blank=True, max_length=2000)
    restarts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Monitor resume position: byte offset (local log file) or count of lines already stored
    # (Kubernetes logs), so a restarted monitor neither loses nor duplicates lines.
    log_position = models.BigIntegerField(default=0)
    log_complete = models.BooleanField(default=False)
    # Progress of this pod from the pipeline's events: files done of files given, plus the
    # fraction of the file in hand.
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    progress = models.FloatField(default=0)

    class Meta:
        ordering = ["run", "name"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="unique_pod_per_run")]

    def __str__(self) -> str:
        return self.name


class RunLogLine(models.Model):
    """One stored log line. `cursor` increases monotonically per run; clients page with it."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_lines")
    cursor = models.PositiveIntegerField()
    pod = models.CharField(max_length=253, blank=True)
    text = models.TextField()
    time = models.DateTimeField()

    class Meta:
        ordering = ["run", "cursor"]
        constraints = [
            models.UniqueConstraint(fields=["run", "cursor"], name="unique_log_cursor_per_run")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.cursor}"


class RunEvent(models.Model):
    """A machine-readable event: the media pipeline's JSON lines and the panel's own."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32)
    data = models.JSONField(default=dict, blank=True)
    pod = models.CharField(max_length=253, blank=True)
    time = models.DateTimeField()
    log_cursor = models.PositiveIntegerField(null=True, blank=True)
    # A progress event's own numbers are of one file or video (they restart at each); the run's
    # progress after it is what its chart draws.
    progress = models.FloatField(
        null=True, blank=True, help_text="The run's progress (%) after this event."
    )

    class Meta:
        ordering = ["run", "time", "id"]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.kind}"


class RunOutput(models.Model):
    """A file a run produced (processed video, annotated image, JSON report) or a stream URL."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="outputs")
    kind = models.CharField(max_length=16, choices=OutputKind.choices, default=OutputKind.FILE)
    path = models.CharField(max_length=1000, help_text="Path as the pipeline reported it.")
    local_path = models.CharField(
        max_length=1000, blank=True, help_text="Where the panel can read it, if it can."
    )
    url = models.CharField(max_length=1000, blank=True)
    source = models.CharField(max_length=1000, blank=True, help_text="The input it came from.")
    pod = models.CharField(max_length=253, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "path"], name="unique_output_path_per_run")
        ]

    def __str__(self) -> str:
        return self.path


class FaceResult(models.Model):
    """Who the face identification found in one image."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="face_results")
    image = models.CharField(max_length=1000)
    person = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=FaceStatus.choices)
    distance = models.FloatField(null=True, blank=True)
    box = models.JSONField(null=True, blank=True)
    pod = models.CharField(max_length=253, blank=True)
    time = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "image", "id"]

    def __str__(self) -> str:
        return f"{self.image}: {self.person or self.status}"
