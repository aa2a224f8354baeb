"""Stop, a closed tab, and the place in line, in a real browser (Debian chromium via Playwright)
against a real server with the tiny models in a LocalBackend: Gradio's `cancels=` on Stop and
its unload event when a page goes away both reach the model, which is free again within seconds."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import TINY
from tests.support.servers import serving
from tests.support.studio import open_studio, select_tab, set_number

LONG_S = 200  # a clip far longer than any test waits for


@pytest.fixture(scope="module")
def site(model_classes, tmp_path_factory):
    """The studio on its own backend, which the tests look into: (url, store, backend)."""
    from ui.generation import LocalBackend
    from ui.store import ResultStore
    from ui.web import create_app

    backend = LocalBackend(model_classes, TINY)
    store = ResultStore(tmp_path_factory.mktemp("stop-store"))
    with serving(create_app(backend, store)) as url:
        yield url, store, backend


def music(backend):
    """The tiny music model's slot: calls running in it, and callers in its line."""
    return backend._slots.get(("music", "tiny"))


def wait_until(condition, timeout_s: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.05)
    return time.monotonic() - started


def start_long_clip(page, url: str, prompt: str) -> None:
    open_studio(page, url)
    select_tab(page, "Music")
    set_number(page, "music-duration", LONG_S)
    page.locator("#music-prompt textarea").fill(prompt)
    page.locator("#music-generate").click()


@pytest.fixture(scope="module")
def warm(site):
    """The tiny music model loaded (a first call loads it alone), so timings are the model's."""
    url, _, _ = site
    assert httpx.post(f"{url}/api/v1/music", json={"prompt": "warm up", "duration": 1}, timeout=120).status_code == 201


def test_stop_ends_a_running_clip_and_frees_the_model(page, site, warm, artifacts):
    url, store, backend = site
    saved = len(store)
    start_long_clip(page, url, "a very long lofi piece")
    expect(page.locator("#music-stop")).to_be_visible(timeout=10_000)  # Stop stands in for Generate
    expect(page.locator("#music-generate")).to_be_hidden()
    wait_until(lambda: music(backend).running == 1, 30)
    page.wait_for_timeout(1000)
    page.screenshot(path=artifacts / "studio-stop.png")
    page.locator("#music-stop").click()
    freed = wait_until(lambda: music(backend).running == 0, 10)
    assert freed < 3.0, f"freed {freed:.2f} s after Stop"
    expect(page.locator("#music-generate")).to_be_visible(timeout=10_000)
    expect(page.locator("#music-stop")).to_be_hidden()
    assert len(store) == saved and page.locator("#history .history-card").count() == 0  # nothing saved


def test_a_closed_tab_stops_its_generation_and_leaves_the_line(chromium, site, warm):
    """Gradio alone only ends a gone page's event at its next yield, and one waiting in line
    yields nothing: without the studio's unload it would keep its place until the model is free."""
    url, _, backend = site
    contexts = [chromium.new_context() for _ in range(2)]
    playing, waiting = (context.new_page() for context in contexts)
    try:
        start_long_clip(playing, url, "a clip nobody will hear")
        wait_until(lambda: music(backend).running == 1, 30)
        start_long_clip(waiting, url, "a clip nobody will wait for")
        wait_until(lambda: len(music(backend).line) == 1, 30)
        contexts[1].close()  # the waiting visitor's tab goes
        left = wait_until(lambda: len(music(backend).line) == 0, 15)
        assert left < 5.0, f"left the line {left:.2f} s after the tab closed"
        assert music(backend).running == 1  # and did not take the model's place on its way out
        contexts[0].close()  # then the playing one's
        freed = wait_until(lambda: music(backend).running == 0, 15)
        assert freed < 5.0, f"freed {freed:.2f} s after the tab closed"
    finally:
        for context in contexts:
            context.close()


def test_a_visitor_waiting_for_the_model_sees_their_place_in_line(chromium, site, warm):
    url, _, backend = site
    contexts = [chromium.new_context() for _ in range(3)]
    pages = [context.new_page() for context in contexts]
    try:
        start_long_clip(pages[0], url, "first, playing")
        wait_until(lambda: music(backend).running == 1, 30)
        start_long_clip(pages[1], url, "second, waiting")
        wait_until(lambda: len(music(backend).line) == 1, 30)
        start_long_clip(pages[2], url, "third, waiting")
        expect(pages[2].get_by_text("2nd in line")).to_be_visible(timeout=30_000)
        expect(pages[1].get_by_text("1st in line")).to_be_visible(timeout=30_000)
        pages[1].locator("#music-stop").click()  # the one ahead leaves the line...
        expect(pages[2].get_by_text("1st in line")).to_be_visible(timeout=30_000)  # ...and this one moves up
        for page in (pages[2], pages[0]):
            page.locator("#music-stop").click()
        wait_until(lambda: music(backend).running == 0 and len(music(backend).line) == 0, 15)
    finally:
        for context in contexts:
            context.close()
