"""Real headless Chromium (Debian's package, driven by Playwright) against a live Splice server."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make around it are
# ordinary synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def splice(live_server, settings):
    """The live server's address, with Splice configured to build its links (OAuth redirects) from it."""
    settings.SPLICE_BASE_URL = live_server.url
    settings.SESSION_COOKIE_SECURE = False  # plain http on 127.0.0.1
    settings.CSRF_COOKIE_SECURE = False
    return live_server.url


@pytest.fixture
def browser_as(chromium, splice, client):
    """browser_as(user) -> a Playwright page signed in as that user (session cookie from the test client).

    A test whose pages break Splice's Content Security Policy fails: Chromium reports each script, style or form
    submission it blocked on the console ("... violates the following Content Security Policy directive ...")."""
    contexts = []
    violations = []

    def open_page(user):
        client.force_login(user)
        context = chromium.new_context(base_url=splice)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": splice}])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda message: _note_csp(violations, page, message.text))
        page.on("pageerror", lambda error: _note_csp(violations, page, str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()  # delivers the events still on their way
    if violations:
        pytest.fail("Content Security Policy violations:\n" + "\n".join(violations), pytrace=False)


def _note_csp(violations: list[str], page, text: str) -> None:
    if "Content Security Policy" in text:
        violations.append(f"{page.url}: {text}")
