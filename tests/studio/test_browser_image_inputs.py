"""Image inputs in a real browser (Debian chromium via Playwright) on the tiny image model: make an
image, "Use as input", paint a mask stroke on the editor's canvas with the mouse, generate; the
share page's "Use as input" link opening the studio with that image in the editor; and a
picture uploaded into the editor reaching the model unchanged."""

from __future__ import annotations

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests.support.studio import generate, open_studio, set_number
from ui.store import ResultStore

VIEWPORT = {"width": 1360, "height": 1400}  # the editor sits below the form


def pixels(store: ResultStore, record: dict) -> np.ndarray:
    path, _ = store.media_path(record["id"], record["files"][0]["name"])
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def newest(store: ResultStore) -> dict:
    return store.list(published_only=False, limit=1)[0]


def editor_canvas(page: Page):
    canvas = page.locator("#image-input canvas").first
    expect(canvas).to_be_visible(timeout=30_000)
    return canvas


def picture_shown(page: Page) -> None:
    """The editor has a picture: its "Upload an image" prompt is gone (and its value handed over)."""
    editor_canvas(page)
    expect(page.locator("#image-input").get_by_text("Upload an image")).to_be_hidden(timeout=30_000)
    page.wait_for_timeout(500)


def paint_stroke(page: Page) -> None:
    """Drag the brush across the left part of the picture, as a visitor would with the mouse."""
    editor_canvas(page).scroll_into_view_if_needed()  # the mouse only reaches what is on screen
    box = editor_canvas(page).bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y - box["height"] * 0.2)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * 0.3, y - box["height"] * 0.2 + i * box["height"] * 0.04)
    page.mouse.up()


def test_use_a_result_as_input_paint_a_mask_and_inpaint(page, site, artifacts):
    url, store = site
    open_studio(page, url)
    page.locator("#image-advanced").click()
    set_number(page, "image-width", 256)  # the tiny model's largest: the brush is small on it
    set_number(page, "image-height", 256)
    generate(page, "image", "a quiet harbour at dawn")
    source = newest(store)

    page.locator("#image-use-input").click()
    expect(page.locator("#image-strength")).to_be_visible()
    picture_shown(page)
    paint_stroke(page)
    generate(page, "image", "a red lighthouse")

    made = newest(store)
    assert made["id"] != source["id"]
    assert made["input"]["mode"] == "inpainting", made
    assert made["parameters"]["strength"] == 0.6  # the slider's
    assert (made["parameters"]["width"], made["parameters"]["height"]) == (source["parameters"]["width"],
                                                                          source["parameters"]["height"])
    before, after = pixels(store, source), pixels(store, made)
    right = before.shape[1] // 2  # the stroke ran down the left third: the right half is kept, pixel for pixel
    assert np.abs(after[:, right:] - before[:, right:]).max() <= 1
    assert np.abs(after[:, :right] - before[:, :right]).max() > 10  # and under the stroke, redrawn
    page.screenshot(path=artifacts / "studio-inpainting.png", full_page=True)


def test_the_share_pages_use_as_input_link_fills_the_editor(page, site):
    url, store = site
    open_studio(page, url)
    generate(page, "image", "a snowy forest")
    rid = newest(store)["id"]
    page.goto(f"{url}/r/{rid}")
    page.get_by_role("link", name="Use as input").click()
    expect(page.locator("#image-strength")).to_be_visible(timeout=30_000)
    picture_shown(page)
    expect(page.locator("#image-prompt textarea")).to_have_value("a snowy forest")  # its settings come along
    generate(page, "image", "the same forest, at night")
    made = newest(store)
    assert made["input"]["mode"] == "image-to-image" and made["parameters"]["strength"] == 0.6
    expect(page.locator("#image-details")).to_contain_text("image-to-image, strength 0.6")


def test_an_uploaded_picture_arrives_losslessly_and_strength_0_gives_it_back(page, site, tmp_path):
    url, store = site
    picture = tmp_path / "picture.png"
    Image.merge("RGB", [Image.effect_noise((96, 64), sigma) for sigma in (40, 70, 100)]).save(picture)
    open_studio(page, url)
    page.locator("#image-input-box").click()
    # A visitor picks a file once the editor is on screen. Picked at once after opening the box, in a
    # module run the file was never uploaded (no request left the page; 3 runs of 3), and passed alone.
    editor_canvas(page)
    page.wait_for_timeout(500)
    with page.expect_file_chooser() as chooser:  # as a visitor does: click the empty canvas, pick a file
        page.locator("#image-input").get_by_text("Upload an image").click()
    chooser.value.set_files(str(picture))
    picture_shown(page)
    set_number(page, "image-strength", 0)
    generate(page, "image", "keep it as it is")
    made = newest(store)
    assert made["input"]["mode"] == "image-to-image" and made["parameters"]["strength"] == 0
    assert np.array_equal(pixels(store, made), np.asarray(Image.open(picture)).astype(int))
