"""Guided images in a real browser (Debian chromium via Playwright) on the tiny image model: draw a
scribble on the Guide panel's sketch pad and generate from it (the server and the browser share a
process here, so the test reads the control picture the model got off the server's shelf); upload a picture
and see its annotation; a second control added; Vary and Upscale under a result and from its share page, each recording its
parent; and a dropped PNG putting its control back in the Guide panel."""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from tests.support.studio import GENERATION_TIMEOUT_MS, generate, open_studio
from ui.generation import shelf
from ui.store import ResultStore

VIEWPORT = {"width": 1360, "height": 1600}  # the Guide panel sits below the form


def newest(store: ResultStore) -> dict:
    return store.list(published_only=False, limit=1)[0]


def open_guide(page: Page, mode: str) -> None:
    page.locator("#image-guide-box").click()
    page.locator("#image-guide-mode input").click()
    page.get_by_role("option", name=re.compile(f"^{mode}:")).click()


def preview_shown(page: Page) -> np.ndarray:
    """The control picture on show, once there is one, as pixels."""
    image = page.locator("#image-guide-preview img")
    expect(image).to_be_visible(timeout=GENERATION_TIMEOUT_MS)
    data = page.request.get(image.get_attribute("src")).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def draw_scribble(page: Page) -> None:
    """A zigzag across the sketch pad's page, as a visitor draws with the mouse. The page is the middle
    of the canvas (its square fitted to the pad's height): a stroke that starts off it draws nothing."""
    canvas = page.locator("#image-guide-drawing canvas").first
    expect(canvas).to_be_visible(timeout=30_000)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.32, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    for i in range(1, 13):
        page.mouse.move(box["x"] + box["width"] * (0.32 + i * 0.03), box["y"] + box["height"] * (0.3 + (i % 2) * 0.4),
                        steps=4)
    page.mouse.up()


def test_draw_a_scribble_see_it_and_generate(page, site, artifacts):
    url, store = site
    open_studio(page, url)
    open_guide(page, "scribble")
    page.locator("#image-guide-source").get_by_text("Draw").click()
    draw_scribble(page)
    generate(page, "image", "a mountain ridge at dusk")
    made = newest(store)
    (used,) = made["guides"]["controls"]
    assert (used["mode"], used["preprocess"], used["scale"]) == ("scribble", False, 1.0)  # the drawing, as it is
    assert (made["parameters"]["width"], made["parameters"]["height"]) == (256, 256)  # the pad's square, fitted
    control = np.asarray(Image.open(io.BytesIO(shelf.find(used["image_sha256"]))).convert("L"))
    assert control.shape == (768, 768) and set(np.unique(control)) == {0, 255}  # white strokes on black
    assert 0.005 < (control == 255).mean() < 0.5  # the zigzag, not an empty page nor a full one
    page.screenshot(path=artifacts / "studio-guide-scribble.png", full_page=True)


def test_an_uploaded_picture_shows_its_annotation_before_generating(page, site, tmp_path):
    url, store = site
    picture = tmp_path / "square.png"
    drawn = Image.new("RGB", (96, 64), "black")
    ImageDraw.Draw(drawn).rectangle((24, 16, 71, 47), fill="white")
    drawn.save(picture)
    open_studio(page, url)
    open_guide(page, "canny")
    page.locator("#image-guide-picture input[type=file]").set_input_files(str(picture))
    edges = preview_shown(page)
    assert edges.shape == (64, 96) and edges[14:19, 30:60].any() and not edges[28:36, 40:56].any()  # the outline
    generate(page, "image", "a framed window")
    made = newest(store)
    assert made["guides"]["controls"][0]["mode"] == "canny" and made["parameters"]["width"] == 96


def test_add_another_control_and_generate_with_two(page, site, tmp_path):
    url, store = site
    picture = tmp_path / "square.png"
    drawn = Image.new("RGB", (64, 64), "black")
    ImageDraw.Draw(drawn).rectangle((16, 16, 47, 47), fill="white")
    drawn.save(picture)
    open_studio(page, url)
    open_guide(page, "canny")
    page.locator("#image-guide-picture input[type=file]").set_input_files(str(picture))
    expect(page.locator("#image-guide-mode-2")).to_be_hidden()
    page.locator("#image-guide-more").click()
    expect(page.locator("#image-guide-mode-2")).to_be_visible()
    page.locator("#image-guide-mode-2 input").click()
    page.get_by_role("option", name=re.compile("^depth:")).click()
    page.locator("#image-guide-picture-2 input[type=file]").set_input_files(str(picture))
    expect(page.locator("#image-guide-picture-2 img")).to_be_visible()
    page.locator("#image-guide-more").click()
    expect(page.locator("#image-guide-mode-3")).to_be_visible()
    expect(page.locator("#image-guide-more")).to_be_hidden()  # three: as many as a request takes
    generate(page, "image", "two guides")
    assert [c["mode"] for c in newest(store)["guides"]["controls"]] == ["canny", "depth"]  # the empty third left out


def test_vary_and_upscale_under_a_result_record_it_as_their_parent(page, site):
    url, store = site
    open_studio(page, url)
    generate(page, "image", "a lighthouse in fog")
    parent = newest(store)
    cards = page.locator("#history .history-card")
    for action, button in (("vary-subtle", "#image-vary-subtle"), ("upscale", "#image-upscale")):
        before = cards.count()
        page.locator(button).click()
        expect(cards).to_have_count(before + 1, timeout=GENERATION_TIMEOUT_MS)
        child = newest(store)
        assert child["lineage"] == {"parent": parent["id"], "action": action}, child
        parent = child  # each follows the result then on show
    assert (parent["parameters"]["width"], parent["parameters"]["height"]) == (128, 128)
    expect(page.locator("#image-details")).to_contain_text("128×128")


def test_the_share_pages_vary_runs_in_the_studio_at_once(page, site):
    url, store = site
    open_studio(page, url)
    generate(page, "image", "a red kite over dunes")
    parent = newest(store)
    page.goto(f"{url}/r/{parent['id']}")
    page.get_by_role("link", name="Vary (strong)").click()
    expect(page.locator("#history .history-card")).to_have_count(1, timeout=GENERATION_TIMEOUT_MS)
    child = newest(store)
    assert child["lineage"] == {"parent": parent["id"], "action": "vary-strong"}
    expect(page.locator("#image-prompt textarea")).to_have_value("a red kite over dunes")
    page.goto(f"{url}/r/{child['id']}")
    expect(page.get_by_text("Vary (strong) of")).to_be_visible()
    expect(page.get_by_role("link", name="this result")).to_have_attribute("href", f"/r/{parent['id']}")


def test_a_dropped_png_puts_its_control_back_in_the_guide_panel(page, site, tmp_path):
    url, store = site
    picture = tmp_path / "square.png"
    drawn = Image.new("RGB", (64, 64), "black")
    ImageDraw.Draw(drawn).ellipse((12, 12, 52, 52), outline="white", width=3)
    drawn.save(picture)
    open_studio(page, url)
    open_guide(page, "depth")
    page.locator("#image-guide-picture input[type=file]").set_input_files(str(picture))
    preview_shown(page)
    generate(page, "image", "a round table")
    made = newest(store)
    path, _ = store.media_path(made["id"], made["files"][0]["name"])
    open_studio(page, url)  # a fresh page: the panel is empty
    page.locator("#image-recipe input[type=file]").set_input_files(str(path))
    expect(page.locator("#image-prompt textarea")).to_have_value("a round table", timeout=30_000)
    expect(page.locator("#image-guide-mode input")).to_have_value(re.compile("^depth:"))
    expect(page.locator("#image-guide-picture img")).to_be_visible()  # this server still has the picture
    preview_shown(page)
