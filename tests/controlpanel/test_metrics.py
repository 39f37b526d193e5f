"""/metrics (Prometheus), /readyz and the alert rules of docs/monitoring.md."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import yaml
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import LocalClusterFactory

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-scrape-token"


def scrape(client, **headers) -> dict[str, list]:
    """{family name: [(sample name, labels, value)]} of one authorised scrape."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", **headers})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    families = {}
    for family in text_string_to_metric_families(response.content.decode()):
        families[family.name] = [(s.name, s.labels, s.value) for s in family.samples]
    return families


def value(families, family: str, **labels) -> float:
    matches = [v for name, sample_labels, v in families[family]
               if sample_labels.items() >= labels.items() and not name.endswith(("_created",))]  # fmt: skip
    assert len(matches) == 1, (family, labels, families[family])
    return matches[0]


@pytest.mark.smoke
@pytest.mark.django_db
def test_metrics_are_served_only_to_the_token_or_a_listed_network(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 404  # off unless configured

    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 403
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and TOKEN.encode() not in ok.content

    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    # A forged X-Forwarded-For from an untrusted peer changes nothing.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403


@pytest.mark.django_db
def test_metrics_report_runs_faces_queues_cameras_clusters_and_requests(client, settings):
    from cameras.relay import stats_key
    from clusters.azure.models import AzureOperation
    from clusters.choices import ClusterKind, ClusterStatus
    from clusters.models import Cluster, Credential
    from faces.models import FaceImage
    from workloads.models import Run, WorkloadTemplate
    from workloads.monitor import lag_key

    settings.METRICS_TOKEN = TOKEN
    local = LocalClusterFactory()
    Cluster.objects.create(
        name="far", kind=ClusterKind.KUBERNETES, status=ClusterStatus.UNREACHABLE
    )
    lanes = WorkloadTemplate.objects.create(slug="lanes", name="Lanes", kind="lane_detection")
    now = timezone.now()
    for seconds in (5, 45, 45, 4000):  # finished runs: 5 s, 45 s twice, 4000 s
        Run.objects.create(template=lanes, cluster=local, state="succeeded", log_cursor=10,
                           started_at=now - timedelta(seconds=seconds), finished_at=now)  # fmt: skip
    stuck = Run.objects.create(template=lanes, cluster=local, state="running", log_cursor=7,
                               monitor_seen_at=now - timedelta(seconds=300))  # fmt: skip
    # A monitor alive (heartbeat now) but 42.5 s behind the newest line it read.
    behind = Run.objects.create(template=lanes, cluster=local, state="running",
                                monitor_seen_at=timezone.now())  # fmt: skip
    FaceImage.objects.create(source="volume", volume="v", path="a.jpg", status="pending")
    FaceImage.objects.create(source="volume", volume="v", path="b.jpg", status="processed")
    serve = WorkloadTemplate.objects.create(
        slug="face-recognition-service", name="Faces", kind="face-recognition-service"
    )
    backend_name = f"metrics-serve-{stuck.pk}"
    Run.objects.create(template=serve, cluster=local, state="running", handle={
        "runtime": "local", "endpoints": {backend_name: "http://127.0.0.1:9"}})  # fmt: skip
    credential = Credential.objects.create(name="sp", kind="azure")
    AzureOperation.objects.create(kind="scale_pool", credential=credential, status="running")
    AzureOperation.objects.create(kind="scale_pool", credential=credential, status="succeeded")
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # The queues are read from a broker database of their own: a Celery worker an earlier test
    # left running consumes the session broker's `faces` queue.
    settings.CELERY_BROKER_URL = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/15"
    queues = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queues.delete("faces")
    queues.rpush("faces", *[b"{}"] * 3)
    broker.set(stats_key(42), "12.5 0.250", px=5000)
    broker.set(lag_key(behind.pk), "42.500", ex=30)
    try:
        assert client.get("/healthz").status_code == 200
        assert client.get("/no-such-page/at-all").status_code == 404
        families = scrape(client)
    finally:
        broker.delete(stats_key(42), lag_key(behind.pk))
        queues.delete("faces")

    assert value(families, "controlpanel_runs", state="succeeded", template="lanes") == 4
    assert value(families, "controlpanel_runs", state="running", template="lanes") == 2
    durations = {s[1].get("le"): s[2] for s in families["controlpanel_run_duration_seconds"]
                 if s[0].endswith("_bucket")}  # fmt: skip
    assert (durations["10.0"], durations["60.0"], durations["3600.0"], durations["+Inf"]) == (
        1,
        3,
        3,
        4,
    )
    assert value(families, "controlpanel_log_lines_stored") == 47
    lag = value(families, "controlpanel_monitor_lag_seconds", run=str(stuck.pk))
    assert 300 <= lag < 360  # no report, no heartbeat for five minutes: a dead monitor
    assert value(families, "controlpanel_monitor_lag_seconds", run=str(behind.pk)) == 42.5
    assert value(families, "controlpanel_face_images", status="pending") == 1
    assert value(families, "controlpanel_face_images", status="processed") == 1
    assert value(families, "controlpanel_celery_queue_length", queue="faces") == 3
    assert value(families, "controlpanel_celery_queue_length", queue="celery") == 0
    assert value(families, "controlpanel_cameras_live") == 1
    assert value(families, "controlpanel_camera_fps", camera="42") == 12.5
    assert value(families, "controlpanel_camera_latency_seconds", camera="42") == 0.25
    assert value(families, "controlpanel_azure_operations_in_progress", kind="scale_pool") == 1
    assert value(families, "controlpanel_cluster_status", cluster="far", status="unreachable") == 1
    assert value(families, "controlpanel_cluster_status", cluster="local", status="healthy") == 1
    requests = families["controlpanel_http_requests"]
    assert any(labels == {"view": "healthz", "method": "GET", "status": "200"} and v >= 1
               for name, labels, v in requests if name.endswith("_total"))  # fmt: skip
    assert any(labels["view"] == "unmatched" and labels["status"] == "404"
               for name, labels, v in requests if name.endswith("_total"))  # fmt: skip
    assert "controlpanel_http_request_duration_seconds" in families
    assert value(families, "controlpanel_faces_breaker_state", backend=backend_name,
                 state="closed") == 1  # fmt: skip
    assert (
        value(families, "controlpanel_faces_breaker_state", backend=backend_name, state="open") == 0
    )
    assert {v for name, _, v in families["controlpanel_metrics_errors"]
            if name.endswith("_total")} == {0}  # every part was read  # fmt: skip

    # The back-end's circuit opens: the scrape says so (the rule "breaker open" fires on it).
    from faces.backend import Endpoint
    from faces.breaker import breaker_for

    breaker_for(Endpoint(backend_name, "http://127.0.0.1:9")).open()
    families = scrape(client)
    assert (
        value(families, "controlpanel_faces_breaker_state", backend=backend_name, state="open") == 1
    )


def _alert_rules() -> list[dict]:
    text = (ROOT / "docs" / "monitoring.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    rules = [rule for block in blocks if "groups:" in block
             for group in yaml.safe_load(block)["groups"] for rule in group["rules"]]  # fmt: skip
    assert len(rules) >= 4
    return rules


@pytest.mark.django_db
def test_every_metric_the_alert_rules_use_is_exported(client, settings):

    settings.METRICS_TOKEN = TOKEN
    LocalClusterFactory()
    client.get("/healthz")
    exported = set()
    for family, samples in scrape(client).items():
        exported.add(family)
        exported |= {name for name, _, _ in samples}
    used = {
        name for rule in _alert_rules() for name in re.findall(r"\bcontrolpanel_\w+", rule["expr"])
    }
    assert {"controlpanel_celery_queue_length", "controlpanel_faces_breaker_state",
            "controlpanel_monitor_lag_seconds", "controlpanel_cluster_status"} <= used  # fmt: skip
    assert used <= exported, used - exported
    # The breaker states and cluster statuses the rules match on are ones the panel has.
    from clusters.choices import ClusterStatus

    for rule in _alert_rules():
        for matched in re.findall(r'status=~"([^"]+)"', rule["expr"]):
            if "controlpanel_cluster_status" in rule["expr"]:
                assert set(matched.split("|")) <= set(ClusterStatus.values), matched


@pytest.mark.smoke
@pytest.mark.django_db
def test_readyz_says_what_is_not_ready(client, settings):
    from django.db import connection

    from controlpanel import readiness

    body = client.get("/readyz").json()
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "broker": "ok",
                                               "migrations": "ok"}}  # fmt: skip

    # A migration not applied yet (a new image before its migrate Job ran): not ready.
    readiness._migrated = False
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'faces'")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert re.fullmatch(r"\d+ migrations not applied \(run manage.py migrate\)",
                        response.json()["checks"]["migrations"])  # fmt: skip

    # Redis away: not ready, and the answer names the check but not the URL.
    settings.REDIS_URL = settings.CELERY_BROKER_URL = "redis://:pw@127.0.0.1:9/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"].startswith("unavailable") and checks["broker"].startswith("unavailable")
    assert checks["database"] == "ok"
    assert "pw" not in response.content.decode()


@pytest.mark.django_db
def test_a_scrape_with_redis_away_still_answers_and_says_what_it_left_out(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.REDIS_URL = settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    families = scrape(client)
    errors = {labels["part"]: v for name, labels, v in families["controlpanel_metrics_errors"]
              if name.endswith("_total")}  # fmt: skip
    assert errors["queues"] >= 1 and errors["cameras"] >= 1
    assert errors["runs"] == 0 and errors["clusters"] == 0
    assert "controlpanel_celery_queue_length" not in families
    assert "controlpanel_runs" in families  # the database parts are still there
