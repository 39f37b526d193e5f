"""Serving a run's files to the browser: only from allowed folders, with HTTP Range support.

Django's FileResponse always sends the whole file; a `<video>` element needs `206 Partial
Content` answers to seek, so ranges are handled here.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse

from workloads.models import Run

CHUNK = 64 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def allowed_roots(run: Run) -> list[Path]:
    """Folders a run's files may be served from: its work folder and the local data root, plus
    the bundled samples the no-parameter presets read (face results point at them)."""
    from media_pipeline import samples

    roots = [Path(settings.LOCAL_DATA_ROOT).resolve(), samples.ROOT]
    if run.handle.get("workdir"):
        roots.append(Path(run.handle["workdir"]).resolve())
    return roots


def safe_path(run: Run, raw: str) -> Path:
    """The real file behind `raw`, if it lies inside an allowed root (symlinks resolved)."""
    if not raw or "\x00" in raw:
        raise Http404("No such file.")
    path = Path(raw)
    if not path.is_absolute() and run.handle.get("workdir"):
        path = Path(run.handle["workdir"]) / path
    path = path.resolve()
    if not any(path.is_relative_to(root) for root in allowed_roots(run)) or not path.is_file():
        raise Http404("No such file.")
    return path


def _read(path: Path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def ranged_file_response(request, path: Path, *, download: bool = False) -> HttpResponse:
    """The file, or the byte range the request asks for (one range; others get the whole file)."""
    size = path.stat().st_size
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    match = RANGE.match(request.headers.get("Range", "").strip())
    if match and (match[1] or match[2]):
        if match[1]:
            start = int(match[1])
            end = min(int(match[2]), size - 1) if match[2] else size - 1
        else:  # suffix range: the last N bytes
            start, end = max(0, size - int(match[2])), size - 1
        if start >= size or start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        response = StreamingHttpResponse(
            _read(path, start, end - start + 1), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(open(path, "rb"), content_type=content_type)  # noqa: SIM115
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    disposition = "attachment" if download else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{path.name}"'
    return response


def video_poster(path: Path, width: int = 640) -> bytes | None:
    """The first frame of a video as a JPEG (at most `width` wide); None if none can be read."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        return None
    height, current = frame.shape[:2]
    if current > width:
        frame = cv2.resize(frame, (width, round(height * width / current)))
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return encoded.tobytes() if ok else None
