"""URL converters shared by every app."""

from __future__ import annotations


class IdConverter:
    """A primary key: up to 18 digits. Longer ids cannot exist (the columns are 64-bit), and
    passing one to the database is an overflow error instead of the 404 it should be."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
