"""The live log panel's "Download full log": every stored line, in order, for signed-in users."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.fixtures.live import store

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("asgi_app")]


def test_the_download_holds_every_line_of_every_pod_in_cursor_order(run, viewer_user, client):
    store(run, "pod-a", [f"a{i}" for i in range(2500)])  # past one page of the streamed query
    store(run, "pod-b", [f"b{i}" for i in range(1700)])
    store(run, "pod-a", ["a-last"])
    client.force_login(viewer_user)

    response = client.get(reverse("run-log-download", args=[run.pk]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="run-{run.pk}.log"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 4201
    texts = [line.split("] ", 1)[1] for line in lines]
    assert texts == [f"a{i}" for i in range(2500)] + [f"b{i}" for i in range(1700)] + ["a-last"]
    assert lines[2500].split(" ", 2)[1] == "[pod-b]"


def test_signed_out_visitors_are_sent_to_the_login_page(run, client):
    store(run, "pod-a", ["secret output"])

    response = client.get(reverse("run-log-download", args=[run.pk]))

    assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_unknown_run_is_not_found(transactional_db, viewer_user, client):
    client.force_login(viewer_user)
    assert client.get(reverse("run-log-download", args=[999999])).status_code == 404
