"""The auditor site in a real browser: headless Chromium (the system's, driven by Playwright)
against the site served by uvicorn on demo-like data. Screenshots go to tests/artifacts/web/.

Without Chromium these tests skip, saying how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from web_world import PID, World, recorded_world

from services.settings import Settings
from services.site_runner import site_running

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "web"
CHROMIUM = os.environ.get("FEES_CHROMIUM") or next(
    filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser"))), None
)
INSTALL = "apt-get install -y chromium (or set FEES_CHROMIUM to a Chromium binary)"


@pytest.fixture(scope="module")
def world(redis_url: str) -> Iterator[World]:
    yield from recorded_world(redis_url)


@pytest.fixture(scope="module")
def address(world: World) -> Iterator[str]:
    settings = Settings(redis_url=world.redis_url, prefix=world.prefix)
    with site_running(settings, "127.0.0.1", 0) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip(f"no Chromium on this machine: {INSTALL}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("no Playwright: pip install -e '.[dev]'")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    # Offline: any request off this machine fails the test (the site must need no CDN).
    outside: list[str] = []
    opened.on("request", lambda r: None if "127.0.0.1" in r.url else outside.append(r.url))
    yield opened
    context.close()
    assert outside == [], f"the page asked the internet for {outside}"


def _rendered(page: Any) -> None:
    page.wait_for_selector("#chart[data-rendered=yes]", timeout=15_000)


def _markers(page: Any) -> dict[str, Any]:
    """The amendments trace as drawn: its labels and how many marker points the SVG holds."""
    return page.evaluate(
        """() => {
          const gd = document.getElementById('chart');
          const i = gd.data.findIndex(t => t.name === 'amendments');
          const traces = gd.querySelectorAll('.scatterlayer .trace');
          return {labels: gd.data[i].text, points: traces[i].querySelectorAll('path.point').length};
        }"""
    )


def test_the_portfolio_chart_has_one_marker_per_amendment(page: Any, address: str) -> None:
    page.goto(f"{address}/?q=small cap")
    page.click(f"a[href='/portfolio/{PID}']")
    _rendered(page)
    assert _markers(page) == {"labels": ["No. 2", "No. 22"], "points": 2}
    lines = page.evaluate("() => document.getElementById('chart').data.length")
    assert lines == 4  # $100M, $500M, $1B and the markers
    assert page.locator("#versions tr").count() == 3
    page.screenshot(path=str(ARTIFACTS / "portfolio.png"), full_page=True)


def test_as_known_before_amendment_22_shows_the_old_schedule(
    page: Any, address: str, world: World
) -> None:
    page.goto(f"{address}/portfolio/{PID}")
    _rendered(page)
    page.fill("#at_position", world.first_position)
    page.fill("#on", "2006-11-01")
    page.click("#known-at-form button")
    _rendered(page)
    assert page.inner_text("#schedule-on-tiers") == "0.90% flat"
    assert "Amendment No. 2 " in page.inner_text("#schedule-on")
    assert _markers(page) == {"labels": ["No. 2"], "points": 1}
    # The chart at $500M on 2006-11-01: still 0.90% as the log knew it then.
    rate = page.evaluate("() => document.getElementById('chart').data[1].y.at(-1)")
    assert rate == 0.9
    shaded = page.evaluate("() => document.getElementById('chart').layout.shapes.map(s => s.x0)")
    assert shaded == ["2006-11-01"]  # the range the log has learned differently since
    changed = page.locator("#versions tr.changed")
    assert changed.count() == 1 and "No. 22" in changed.inner_text()
    page.screenshot(path=str(ARTIFACTS / "as-known-at.png"), full_page=True)


def test_a_days_explanation_matches_its_fee_accrued_event(
    page: Any, address: str, world: World
) -> None:
    page.goto(f"{address}/portfolio/{PID}/accruals")
    _rendered(page)
    page.click("#days a.day:text('2006-11-07')")
    page.wait_for_selector("#explanation")
    client = redis.Redis.from_url(world.redis_url)
    event = world.fee_accrued(client, "2006-11-07")
    client.close()
    ref = event["schedule_ref"]
    assert page.inner_text("#amount") == event["amount"]
    assert page.inner_text("#amount-exact") == event["amount_exact"]
    assert page.inner_text("#day-count") == (
        f"{event['accrual_days']} day(s) / {event['year_basis']} ({event['day_count']})"
    )
    assert f"Amendment No. {ref['amendment_number']} of {ref['agreement_id']}" in page.inner_text(
        "#ref"
    )
    assert ref["position"] in page.inner_text("#ref")
    bands = page.locator("#bands tr").all_inner_texts()[1:]
    assert [b.split("\t")[3:] for b in bands] == [
        [b["assets_in_band"], b["annual_charge"]] for b in event["breakdown"]
    ], json.dumps(event["breakdown"])
    page.screenshot(path=str(ARTIFACTS / "day-explanation.png"), full_page=True)


def test_a_click_on_the_accruals_chart_opens_the_day(page: Any, address: str) -> None:
    page.goto(f"{address}/portfolio/{PID}/accruals?from=2006-10-01&to=2006-11-30")
    _rendered(page)
    page.locator("#chart .bars .point path").first.click(force=True)
    page.wait_for_url("**/day/2006-10-30")
    assert page.locator("#explanation").count() == 1


def test_the_other_pages_print_cleanly(page: Any, address: str) -> None:
    for path, name in (("/amendment/AG-1/22", "amendment"), ("/operations", "operations")):
        page.goto(address + path)
        assert page.locator("h1").count() == 1
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.emulate_media(media="print")
    page.goto(f"{address}/portfolio/{PID}")
    _rendered(page)
    assert not page.locator("nav").is_visible()
