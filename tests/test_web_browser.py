"""The web inbox in a real browser (Debian's Chromium driven by Playwright): a responder signs
in, filters, opens a mention, acknowledges its alert, and every page fits a phone and a desk.

Playwright's own browser download cannot work here, so the test uses /usr/bin/chromium, which
.ci/run installs when it is missing; without it the test skips, except in CI, where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_retention import write_config
from tests.web import PASSWORD, Inbox, serve

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    write_config(tmp_path, "")
    yield from serve(tmp_path)


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking"],
        )
        yield launched
        launched.close()


def fits(page: object) -> bool:
    """No horizontal scrolling: nothing on the page is wider than the window."""
    width: bool = page.evaluate(  # type: ignore[attr-defined]
        "document.scrollingElement.scrollWidth <= window.innerWidth"
    )
    return width


def test_a_responder_signs_in_filters_opens_and_acknowledges(
    inbox: Inbox, browser: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(inbox.url + "/")
    expect(page).to_have_url(f"{inbox.url}/login?next=%2F")
    page.get_by_label("Name").fill("rory")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Acme outage")).to_be_visible()

    page.get_by_label("Severity").select_option("urgent")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(
        f"{inbox.url}/?q=&period=&severity=urgent&sentiment=&state=&source=&brand=&tag="
    )
    expect(page.get_by_text("Acme shipped version two")).to_have_count(0)
    for width in (390, 1200):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=tmp_path / f"inbox-{width}.png", full_page=True)
        assert fits(page), f"the inbox scrolls sideways at {width} px"

    page.get_by_text("Acme outage").click()
    expect(page.get_by_role("heading", name="Acme outage")).to_be_visible()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("acknowledged by rory via web")).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    for width in (390, 1200):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=tmp_path / f"mention-{width}.png", full_page=True)
        assert fits(page), f"the mention page scrolls sideways at {width} px"

    page.goto(f"{inbox.url}/mentions/{inbox.hostile_id}")
    assert page.locator("script").count() == 0  # the payload is text, not an element
    assert page.locator("a[href^='javascript']").count() == 0
    assert fits(page)
