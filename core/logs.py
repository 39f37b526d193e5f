"""Logging filters of the panel's processes."""

from __future__ import annotations

import logging


class RefusalsOneLine(logging.Filter):
    """A 403 or 404 is an expected answer, not a crash: Django logs it with the exception's
    traceback, which buries the real errors. Keep the one line, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request" and getattr(record, "status_code", 0) in (403, 404):
            record.exc_info = None
            record.exc_text = None
        return True
