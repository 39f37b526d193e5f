"""The Azure Files data plane (REST over HTTPS, path-style like Azurite), enough for
azure-storage-file-share to create directories, upload, list and download files.

Requests must carry a SharedKey header for the account (the signature itself is not checked)."""

from __future__ import annotations

import hashlib
from email.utils import formatdate
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

    from tests.fakes.azure_arm import FakeAzure


def _error(status: int, code: str) -> tuple[int, str, dict]:
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{code}</Message></Error>'  # fmt: skip
    return status, body, {"x-ms-error-code": code}


def handle_files(fake: FakeAzure, req: BaseHTTPRequestHandler):
    parts = urlsplit(req.path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    segments = [unquote(s) for s in parts.path.strip("/").split("/")]
    account, share, path = segments[0], (segments[1] if len(segments) > 1 else ""), "/".join(segments[2:])  # fmt: skip
    length = int(req.headers.get("Content-Length") or 0)
    raw = req.rfile.read(length) if length else b""
    if not req.headers.get("Authorization", "").startswith(f"SharedKey {account}:"):
        return _error(403, "AuthenticationFailed")
    with fake.lock:
        files = fake.files.get(account, {}).get(share)
        if files is None:
            return _error(404, "ShareNotFound")
        headers = {
            "x-ms-version": req.headers.get("x-ms-version", "2025-01-05"),
            "Last-Modified": formatdate(usegmt=True),
            "ETag": '"0x8D0000000000001"',
            "Date": formatdate(usegmt=True),
        }
        method = req.command
        if query.get("restype") == "directory" and query.get("comp") == "list":
            return 200, _listing(files, path, share), headers
        if query.get("restype") == "directory":
            if method == "PUT":
                files.setdefault(path + "/", b"")
                return 201, b"", headers
            exists = path == "" or any(k.startswith(path + "/") for k in files)
            return (200, b"", headers) if exists else _error(404, "ResourceNotFound")
        if method == "PUT" and query.get("comp") == "range":
            start, end = (int(x) for x in req.headers["x-ms-range"].split("=")[1].split("-"))
            data = bytearray(files[path])
            data[start : end + 1] = raw
            files[path] = bytes(data)
            headers["Content-MD5"] = ""
            return 201, b"", headers
        if method == "PUT":
            files[path] = b"\0" * int(req.headers.get("x-ms-content-length", "0"))
            return 201, b"", headers
        if path not in files:
            return _error(404, "ResourceNotFound")
        data = files[path]
        headers |= {"x-ms-type": "File", "Content-Type": "application/octet-stream"}
        if method == "HEAD":
            headers["Content-Length-Override"] = str(len(data))
            return 200, b"", headers
        wanted = req.headers.get("x-ms-range") or req.headers.get("Range")
        if wanted and data:
            start, end = (int(x) for x in wanted.split("=")[1].split("-"))
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return 206, data[start : end + 1], headers
        headers["Content-MD5"] = hashlib.md5(data).hexdigest()  # noqa: S324 - a checksum, not security
        return 200, data, headers


def _listing(files: dict[str, bytes], directory: str, share: str) -> str:
    prefix = directory + "/" if directory else ""
    names_files, names_dirs = {}, set()
    for key, data in files.items():
        if not key.startswith(prefix) or key == prefix:
            continue
        rest = key[len(prefix) :]
        if "/" in rest:
            names_dirs.add(rest.split("/")[0])
        else:
            names_files[rest] = len(data)
    entries = "".join(f"<Directory><Name>{escape(d)}</Name><Properties /></Directory>" for d in sorted(names_dirs))  # fmt: skip
    entries += "".join(
        f"<File><Name>{escape(n)}</Name><Properties><Content-Length>{size}</Content-Length></Properties></File>"
        for n, size in sorted(names_files.items())
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<EnumerationResults ShareName="{escape(share)}" DirectoryPath="{escape(directory)}">'
        f"<Entries>{entries}</Entries><NextMarker /></EnumerationResults>"
    )
