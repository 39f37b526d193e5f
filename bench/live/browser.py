"""A logged-in headless Chromium page on the benchmark's panel (Debian's chromium + Playwright),
for measuring what a person watching the page gets rather than what a Python client gets."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from bench.live.stack import django_setup
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS

VIEWER_CODE = """
from core.choices import Role
from core.services import SYSTEM, user_create
user_create(actor=SYSTEM, username={username!r}, password={password!r}, role=Role.VIEWER)
"""


@contextmanager
def logged_in_page(env: dict, base: str) -> Iterator[object]:
    """A Playwright page logged in to the panel at `base` as a viewer made for the bench."""
    from playwright.sync_api import sync_playwright

    username, password = f"bench-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    django_setup(env, VIEWER_CODE.format(username=username, password=password))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{base}/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            yield page
        finally:
            browser.close()
