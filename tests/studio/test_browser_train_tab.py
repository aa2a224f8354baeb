"""The studio's Train tab in a real browser (Debian chromium via Playwright), on the tiny preset:
drop pictures (a duplicate noted), train a few steps with the loss drawn and a sample shown, then
*Use it* opens the Image tab with the adapter picked; a long training is stopped and keeps nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from models.image import loras
from models.training import run
from tests.support.studio import open_studio, select_tab, set_number
from tests.support.training import pictures

TRAINING_TIMEOUT_MS = 240_000  # a few tiny steps, on a shared CPU


@pytest.fixture
def photos(tmp_path):
    paths = []
    for i, data in enumerate(pictures(3, seed=6)):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(data)
    (tmp_path / "again.png").write_bytes(pictures(3, seed=6)[0])  # the first one twice
    return paths, tmp_path / "again.png"


def fill_training(page, files, trigger: str, steps: int) -> None:
    select_tab(page, "Train")
    page.locator("#train-pictures input[type=file]").set_input_files([str(p) for p in files])
    expect(page.locator("#train-notes")).to_contain_text(f"{len(files)} pictures", timeout=30_000)
    page.locator("#train-trigger textarea, #train-trigger input").first.fill(trigger)
    page.locator("#train-preset input").click()
    page.get_by_role("option", name="tiny", exact=True).click()
    set_number(page, "train-steps", steps)


def test_train_watch_it_and_use_the_adapter(page, site, photos, artifacts):
    url, _ = site
    files, duplicate = photos
    open_studio(page, url)
    fill_training(page, [*files, duplicate], "a photo of qwerty the dog", 3)
    expect(page.locator("#train-notes")).to_contain_text("again.png is the same picture as 0.png")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("is in the library", timeout=TRAINING_TIMEOUT_MS)
    expect(page.locator("#train-sample img")).to_be_visible()
    expect(page.locator("#train-loss")).not_to_contain_text("No data")
    adapter = next(a for a in loras.list_adapters() if a.trigger == "a photo of qwerty the dog")
    page.screenshot(path=artifacts / "studio-train-tab.png", full_page=True)

    page.locator("#train-use-it").click()
    expect(page.locator("#image-prompt textarea")).to_have_value("a photo of qwerty the dog")
    expect(page.locator("#image-lora-scale-0")).to_contain_text(f"{adapter.id} scale")


def test_stop_ends_a_training_and_keeps_nothing(page, site, photos):
    url, _ = site
    files, _ = photos
    open_studio(page, url)
    fill_training(page, files, "qwerty stopped", 2000)
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Step", timeout=TRAINING_TIMEOUT_MS)
    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_contain_text("Stopped: nothing was kept.")
    runs = run.runs_folder()
    for _ in range(60):  # the model stops at its next step, and removes its run's folder
        if not (runs.exists() and any(runs.iterdir())):
            break
        page.wait_for_timeout(500)
    assert not (runs.exists() and any(runs.iterdir()))
    assert not [a for a in loras.list_adapters() if a.trigger == "qwerty stopped"]
