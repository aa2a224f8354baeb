"""What the studio's browser tests do as a visitor: open the page, type into a control, press
Generate and wait for the result. The fixtures that serve the studio and drive chromium are in
tests/studio/conftest.py."""

from __future__ import annotations

from urllib.parse import urlencode

from playwright.sync_api import Page, expect

GENERATION_TIMEOUT_MS = 120_000  # the first call of each tiny model also loads it


def open_studio(page: Page, url: str, query: dict | None = None) -> Page:
    page.goto(f"{url}/" + (f"?{urlencode(query)}" if query else ""))
    expect(page.locator("#history")).to_be_visible(timeout=30_000)  # on every tab: a remix link may pick Music
    return page


def set_number(page: Page, component: str, value: float) -> None:
    """Type into a slider's or number's box, as a visitor would."""
    box = page.locator(f"#{component} input[type=number]")
    slider = page.locator(f"#{component} input[type=range]")
    for _ in range(3):  # a busy machine may still be hydrating the accordion: type again until it holds
        box.fill(str(value))
        box.press("Tab")
        page.wait_for_timeout(200)
        held = box.input_value() == str(value) and (not slider.count() or slider.input_value() == str(value))
        if held:
            return
    raise AssertionError(f"#{component} did not take {value}")


def generate(page: Page, kind: str, prompt: str) -> str:
    """Type a prompt, click Generate, wait for the result to join the history; returns its details line."""
    cards = page.locator("#history .history-card")
    before = cards.count()
    page.locator(f"#{kind}-prompt textarea").fill(prompt)
    page.locator(f"#{kind}-generate").click()
    expect(cards).to_have_count(before + 1, timeout=GENERATION_TIMEOUT_MS)
    expect(cards.first).to_contain_text(prompt)
    return page.locator(f"#{kind}-details").inner_text()


def select_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
