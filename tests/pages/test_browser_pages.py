"""The share pages in a real browser (Debian chromium through Playwright).

A live server (uvicorn in a thread) runs the whole app, studio at "/" included. The owner
publishes a result from its permalink page with the owner key in localStorage, as the
studio leaves it; a visitor (a separate browser context: no key) finds it in the gallery,
opens it and sees it. Screenshots go to test-artifacts/pages-*.png. Any console error
(a Content-Security-Policy violation, say) or failed request fails the test.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from tests.support.pages import make_result, stand_in_result, with_studio_at_root
from ui.generation import LocalBackend
from ui.store import ResultStore
from ui.web import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
TINY = {"image": "tiny", "music": "tiny", "video": "tiny-video"}



@pytest.fixture(scope="module")
def site(model_classes, tmp_path_factory):
    """A live server over a store holding real tiny-model results: (base URL, store, results)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    backend = LocalBackend(model_classes, TINY)
    store = ResultStore(tmp_path_factory.mktemp("browser-pages"))

    results = {
        "image": make_result(backend, store, "image", {"prompt": "a lighthouse at dusk, <b>oil</b> on canvas", "width": 256, "height": 256, "seed": 42}),
        "music": make_result(backend, store, "music", {"prompt": "slow piano under rain", "duration": 3, "seed": 7}),
    }
    app = with_studio_at_root(create_app(backend, store))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", store, results
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():  # a failure, not a skip: `make test` installs it
        pytest.fail(f"{CHROMIUM} is missing: run `sudo apt-get install -y chromium fonts-dejavu-core` (or `make test`)", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Watched:
    """A browser context whose page records console errors and failed requests."""

    def __init__(self, browser, **options):
        self.context = browser.new_context(**options)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}"))

    def close(self, allowed: tuple[str, ...] = ()) -> None:
        self.context.close()
        problems = [p for p in self.problems if not any(a in p for a in allowed)]
        assert not problems, problems


def _loaded(page, selector: str) -> bool:
    return page.eval_on_selector_all(selector, "els => els.length > 0 && els.every(e => e.complete && e.naturalWidth > 0)")


def test_publish_then_a_visitor_finds_and_sees_it(site, browser, artifacts):
    from playwright.sync_api import expect

    base, store, results = site
    rid, token = results["image"]["record"]["id"], results["image"]["owner_token"]

    owner = Watched(browser, viewport={"width": 1280, "height": 860})
    page = owner.page
    page.goto(f"{base}/r/{rid}")
    expect(page.locator("#owner")).to_be_hidden()  # no key in this browser yet
    page.evaluate("([id, token]) => localStorage.setItem(`atelier.owner.${id}`, token)", [rid, token])
    page.reload()
    expect(page.locator("#owner")).to_be_visible()
    expect(page.locator('[data-action="unpublish"]')).to_be_hidden()
    page.get_by_role("button", name="Publish to the gallery").click()
    expect(page.locator("#visibility")).to_have_text("In the gallery")
    expect(page.locator(".owner-status")).to_contain_text("Published")
    expect(page.locator('[data-action="unpublish"]')).to_be_visible()
    assert store.get(rid)["published"]
    page.screenshot(path=artifacts / "pages-permalink-owner.png", full_page=True)
    owner.close()

    visitor = Watched(browser, viewport={"width": 1280, "height": 860})
    page = visitor.page
    page.goto(f"{base}/gallery")
    card = page.locator(f'a[href="/r/{rid}"]')
    expect(card).to_be_visible()
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    assert _loaded(page, ".card img")
    card.click()
    page.wait_for_url(f"{base}/r/{rid}")
    expect(page.locator("h1.prompt")).to_have_text("a lighthouse at dusk, <b>oil</b> on canvas")  # as text
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    assert _loaded(page, ".media img")
    expect(page.locator("#owner")).to_be_hidden()  # a visitor holds no key
    expect(page.get_by_role("link", name="Remix in the studio")).to_have_attribute("href", "/?kind=image&prompt=a+lighthouse+at+dusk%2C+%3Cb%3Eoil%3C%2Fb%3E+on+canvas&negative_prompt=&preset=tiny&width=256&height=256&steps=2&guidance=0.0&seed=42&num_images=1")  # fmt: skip
    page.screenshot(path=artifacts / "pages-permalink-image.png", full_page=True)
    visitor.close()


def test_music_page_plays_and_reads_well_on_a_phone(site, browser, artifacts):
    base, store, results = site
    rid = results["music"]["record"]["id"]
    phone = Watched(browser, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page = phone.page
    page.goto(f"{base}/r/{rid}")
    page.wait_for_function("() => document.querySelector('audio').readyState >= 1", timeout=15_000)
    assert page.evaluate("document.querySelector('audio').duration") == pytest.approx(3, abs=0.1)
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    assert _loaded(page, ".media img.cover")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows sideways
    page.screenshot(path=artifacts / "pages-permalink-music-phone.png", full_page=True)
    phone.close()

    desktop = Watched(browser, viewport={"width": 1280, "height": 860})
    desktop.page.goto(f"{base}/r/{rid}")
    desktop.page.wait_for_function("() => [...document.images].every(i => i.complete)")
    desktop.page.screenshot(path=artifacts / "pages-permalink-music.png", full_page=True)
    desktop.close()


def test_more_button_pages_with_htmx(site, browser, artifacts):
    from playwright.sync_api import expect

    base, store, results = site
    for i in range(30):
        saved = store.save(stand_in_result("music" if i % 4 == 0 else "image", prompt=f"stand-in number {i}", seed=i))
        store.set_published(saved.record["id"], saved.owner_token, True)
    visitor = Watched(browser, viewport={"width": 1280, "height": 860})
    page = visitor.page
    page.goto(f"{base}/gallery")
    expect(page.locator(".card")).to_have_count(24)
    page.get_by_role("link", name="More", exact=True).click()
    expect(page.locator(".card")).to_have_count(min(48, len(store.list(limit=100))))
    assert page.url == f"{base}/gallery"  # swapped in place, no navigation
    expect(page.locator(".more")).to_have_count(0)  # the last page has no More
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    assert _loaded(page, ".card img")
    page.screenshot(path=artifacts / "pages-gallery.png", full_page=True)
    visitor.close()


def test_owner_deletes_and_a_wrong_key_is_turned_away(site, browser, artifacts):
    from playwright.sync_api import expect

    base, store, results = site
    saved = store.save(stand_in_result("image", prompt="to be deleted"))
    rid = saved.record["id"]

    stranger = Watched(browser)
    page = stranger.page
    page.goto(f"{base}/r/{rid}")
    page.evaluate("id => localStorage.setItem(`atelier.owner.${id}`, 'a-guess')", rid)
    page.reload()
    page.get_by_role("button", name="Publish to the gallery").click()
    expect(page.locator(".owner-status")).to_contain_text("Only the person who made this result can change it")
    assert not store.get(rid)["published"]
    stranger.close(allowed=(f"403 {base}/r/{rid}/publish", "status of 403"))

    owner = Watched(browser, viewport={"width": 1280, "height": 860})
    page = owner.page
    page.goto(f"{base}/r/{rid}")
    page.evaluate("([id, token]) => localStorage.setItem(`atelier.owner.${id}`, token)", [rid, saved.owner_token])
    page.reload()
    delete = page.locator('[data-action="delete"]')
    delete.click()
    expect(delete).to_have_text("Press again to delete")
    delete.click()
    expect(page.get_by_role("heading", name="Deleted", exact=True)).to_be_visible()
    assert page.evaluate("id => localStorage.getItem(`atelier.owner.${id}`)", rid) is None
    page.goto(f"{base}/r/{rid}")
    expect(page.get_by_role("heading", name="Nothing here", exact=True)).to_be_visible()
    page.screenshot(path=artifacts / "pages-not-found.png", full_page=True)
    owner.close(allowed=(f"404 {base}/r/{rid}", "status of 404"))
