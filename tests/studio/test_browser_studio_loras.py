"""The studio's LoRA adapter picker in a real browser (Debian chromium via Playwright), on the
tiny models: pick adapters, set their scales, generate; history, remix links and dropped PNGs
bring them back."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from models.image import loras
from models.random_weights.tiny_lora import add_demo_lora
from tests.support.studio import generate, open_studio, set_number


@pytest.fixture(scope="module")
def page(chromium, site):
    """One page for the module: its tests go on from the adapters the first one picked."""
    context = chromium.new_context(viewport={"width": 1360, "height": 1100})
    yield context.new_page()
    context.close()


def pick(page: Page, adapter_id: str) -> None:
    """Search the picker for an adapter and choose it."""
    page.locator("#image-loras input").click()
    page.locator("#image-loras input").fill(adapter_id)
    option = page.get_by_role("option", name=adapter_id, exact=True)
    expect(option).to_be_visible(timeout=15_000)
    option.click()
    page.keyboard.press("Escape")


def test_pick_adapters_set_scales_generate_and_get_them_back(page, site, artifacts):
    url, store = site
    open_studio(page, url)
    # Added after the page loaded: the picker looks at the library again when it is opened.
    for adapter_id, seed in (("studio-grain", 11), ("studio-ink", 12)):
        if adapter_id not in {a.id for a in loras.list_adapters()}:
            add_demo_lora(adapter_id, seed=seed)

    expect(page.locator("#image-lora-scale-0")).to_be_hidden()
    pick(page, "studio-grain")
    expect(page.locator("#image-loras")).to_contain_text("Up to 4, made for tiny models")
    expect(page.locator("#image-lora-scale-0")).to_be_visible()
    expect(page.locator("#image-lora-scale-0")).to_contain_text("studio-grain scale")
    set_number(page, "image-lora-scale-0", 0.6)
    pick(page, "studio-ink")
    set_number(page, "image-lora-scale-1", -0.5)
    page.locator("#image-random input").uncheck()
    set_number(page, "image-seed", 21)
    details = generate(page, "image", "a lighthouse, grainy ink")
    assert "LoRA studio-grain × 0.6 · LoRA studio-ink × -0.5" in details, details
    (record,) = [r for r in store.list(published_only=False, limit=100) if r["parameters"]["prompt"] == "a lighthouse, grainy ink"]
    assert record["parameters"]["loras"] == [{"id": "studio-grain", "scale": 0.6}, {"id": "studio-ink", "scale": -0.5}]
    page.screenshot(path=artifacts / "studio-lora-picker.png", full_page=True)

    # Removing the first keeps the second's scale with it.
    page.locator("#image-loras .token", has_text="studio-grain").locator("[role=button]").click()
    expect(page.locator("#image-lora-scale-1")).to_be_hidden()
    expect(page.locator("#image-lora-scale-0")).to_contain_text("studio-ink scale")
    expect(page.locator("#image-lora-scale-0 input[type=number]")).to_have_value("-0.5")
    details = generate(page, "image", "only ink now")
    assert "LoRA studio-ink × -0.5" in details and "studio-grain" not in details, details

    # The first result from the history: its adapters and scales come back.
    page.locator("#history .history-card", has_text="a lighthouse, grainy ink").click()
    expect(page.locator("#image-lora-scale-1")).to_be_visible()
    expect(page.locator("#image-lora-scale-0 input[type=number]")).to_have_value("0.6")
    expect(page.locator("#image-lora-scale-1 input[type=number]")).to_have_value("-0.5")


def test_a_remix_link_brings_its_adapters_and_changing_the_model_clears_them(page, site):
    url, _ = site
    if "studio-grain" not in {a.id for a in loras.list_adapters()}:
        add_demo_lora("studio-grain", seed=11)
    open_studio(page, url, {"kind": "image", "prompt": "remixed", "loras": "studio-grain:1.25"})
    expect(page.locator("#image-prompt textarea")).to_have_value("remixed")
    expect(page.locator("#image-lora-scale-0")).to_contain_text("studio-grain scale")
    expect(page.locator("#image-lora-scale-0 input[type=number]")).to_have_value("1.25")
    page.locator("#image-preset input").click()
    page.get_by_role("option", name="sd-turbo", exact=True).click()
    expect(page.locator("#image-lora-scale-0")).to_be_hidden()  # no adapter for sd2 models in this library
