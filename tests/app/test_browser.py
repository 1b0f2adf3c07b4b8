"""The running app in a real browser: `salesforecast ui` on 127.0.0.1 and Debian's Chromium,
headless. The screenshots are kept as test artifacts (``SALESFORECAST_ARTIFACTS``, default
``.local/test-artifacts``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.conftest import AppModel
from tests.browser import Page, app_server, chromium

ARTIFACTS = Path(
    os.environ.get("SALESFORECAST_ARTIFACTS", Path(__file__).resolve().parents[2] / ".local"
                   / "test-artifacts")
)  # fmt: skip


@pytest.fixture(scope="module")
def app_url(app_model: AppModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {**os.environ, "SALESFORECAST_BACKTEST": str(app_model.backtest)}
    log = tmp_path_factory.mktemp("ui") / "ui.log"
    with app_server(env, log, model=str(app_model.bundle)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Page]:
    with chromium() as page:
        yield page


def test_the_app_renders_in_chromium(app_url: str, browser: Page) -> None:
    browser.call("Page.navigate", url=app_url)
    try:
        browser.wait_until("document.querySelectorAll('.js-plotly-plot .main-svg').length", 120)
        # Every line and interval band drawn, then the table and its download below.
        browser.wait_until("document.querySelectorAll('.js-plotly-plot .scatterlayer .trace')"
                           ".length >= 5", 30)  # fmt: skip
        browser.wait_until("document.body.innerText.includes('Download CSV')", 30)
    finally:
        browser.screenshot(ARTIFACTS / "app-forecast.png")
    assert browser.evaluate("document.title") == "Sales forecast"
    text = browser.evaluate("document.body.innerText")
    assert "Sales forecast" in text
    assert "Forecast computed in" in text
    assert "Traceback" not in text
    assert "Error" not in text
    assert (ARTIFACTS / "app-forecast.png").stat().st_size > 20_000

    browser.call("Page.navigate", url=f"{app_url}/model")
    try:
        browser.wait_until("document.querySelectorAll('img').length >= 2 && "
                           "document.body.innerText.includes('Backtest windows')", 120)  # fmt: skip
        time.sleep(1)  # the images decode
    finally:
        browser.screenshot(ARTIFACTS / "app-model.png")
    assert "Traceback" not in browser.evaluate("document.body.innerText")
