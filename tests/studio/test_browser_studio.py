"""The studio in a real browser (Debian chromium via Playwright) against a real server,
with the tiny models running in the LocalBackend: what a visitor sees and does."""

from __future__ import annotations

import re

import httpx
from PIL import Image as PILImage
from playwright.sync_api import expect

from models.common.recipes import png_bytes
from tests.support.studio import generate, open_studio, select_tab, set_number

# Records every text the progress bars show, in order, from before the click on.
RECORD_PROGRESS_JS = """
window.progressSeen = [];
window.picturesSeen = [];
new MutationObserver(() => {
  for (const bar of document.querySelectorAll('[role=progressbar]')) {
    const text = bar.getAttribute('aria-valuetext');
    if (text && window.progressSeen.at(-1) !== text) window.progressSeen.push(text);
  }
  for (const img of document.querySelectorAll('#image-gallery img, #music-details img')) {
    if (img.src && !window.picturesSeen.includes(img.src)) window.picturesSeen.push(img.src);
  }
}).observe(document.body, {subtree: true, childList: true, attributes: true});
"""


def test_make_an_image_and_a_clip_with_live_progress(page, site, artifacts):
    url, store = site
    open_studio(page, url)
    page.evaluate(RECORD_PROGRESS_JS)

    page.locator("#image-advanced").click()
    set_number(page, "image-steps", 10)  # enough denoising steps to watch
    details = generate(page, "image", "a lighthouse on a cliff at dawn, watercolor")
    assert "10 steps" in details
    steps_seen = [t for t in page.evaluate("window.progressSeen") if t.startswith("Denoising")]
    assert len(steps_seen) >= 3, steps_seen  # the bar moved with the model's steps
    done = [int(m.group(1)) for t in steps_seen if (m := re.search(r"(\d+) / 10 steps", t))]
    assert done == sorted(done) and done[-1] >= 5, steps_seen

    pictures = page.evaluate("window.picturesSeen")
    previews = [src for src in pictures if src.endswith("preview.webp")]
    assert previews and pictures.index(previews[0]) < len(pictures) - 1, pictures  # the image formed in view first
    image = page.locator("#image-gallery img").first
    expect(image).to_be_visible()
    assert "/gradio_api/file=" in image.get_attribute("src")
    seed = re.search(r"seed (\d+)", details).group(1)
    assert page.locator("#image-seed input").input_value() == seed  # the seed used, ready to reuse
    expect(page.locator("#history .history-image")).to_have_count(1)
    page.screenshot(path=artifacts / "studio-image.png", full_page=True)

    select_tab(page, "Music")
    page.evaluate("window.progressSeen = []; window.picturesSeen = []")
    set_number(page, "music-duration", 5)  # more than the tiny model's 4 s window: continued once
    details = generate(page, "music", "warm lofi piano with vinyl crackle")
    assert "5 s WAV" in details and "2 windows" in details
    composing = [t for t in page.evaluate("window.progressSeen") if t.startswith("Composing")]
    assert len(composing) >= 2, composing
    waveforms = [src for src in page.evaluate("window.picturesSeen") if src.startswith("data:image/png;base64,")]
    assert len(waveforms) == 1, waveforms  # the first window's audio, drawn while the second was made
    expect(page.locator("#music-details img")).to_have_count(0)  # the player shows the whole clip now
    download = page.locator("#music-audio a[download]")
    expect(download).to_have_attribute("href", re.compile(r"/gradio_api/file=.*[/-]music\.wav$"))
    assert httpx.get(download.get_attribute("href")).content[:4] == b"RIFF"  # the clip downloads
    expect(page.locator("#music-audio")).to_contain_text("0:05")  # the player knows the clip's length
    expect(page.locator("#history .history-card")).to_have_count(2)
    page.screenshot(path=artifacts / "studio-music.png", full_page=True)

    assert {r["kind"] for r in store.list(published_only=False, limit=100)} >= {"image", "music"}


def test_a_forming_image_shows_its_preview_in_the_gallery(page, site, artifacts, monkeypatch):
    """The screenshot of a live preview. The tiny model's steps take milliseconds, so a latency
    double (a sleep before each UNet call, nothing else changed) keeps each step's preview on
    screen long enough to see and capture."""
    import time

    from diffusers import UNet2DConditionModel

    forward = UNet2DConditionModel.forward

    def slow_forward(self, *args, **kwargs):
        time.sleep(0.4)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", slow_forward)
    url, _ = site
    open_studio(page, url)
    page.locator("#image-advanced").click()
    set_number(page, "image-steps", 6)
    cards = page.locator("#history .history-card")
    before = cards.count()
    page.locator("#image-prompt textarea").fill("a lighthouse on a cliff at dawn, watercolor")
    page.locator("#image-generate").click()
    preview = page.locator("#image-gallery img[src$='preview.webp']").first
    expect(preview).to_be_visible(timeout=30_000)
    # In view, not only in the page: the picture itself is what lies on top at its centre
    # (Gradio's progress overlay on the gallery once covered it).
    box = preview.bounding_box()
    on_top = page.evaluate("([x, y]) => document.elementFromPoint(x, y)?.getAttribute('src') || ''",
                           [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert on_top.endswith("preview.webp"), on_top
    page.screenshot(path=artifacts / "studio-image-preview.png", full_page=True)
    expect(cards).to_have_count(before + 1, timeout=30_000)  # and the image itself follows
    expect(page.locator("#image-gallery img[src$='preview.webp']")).to_have_count(0)


def test_bad_input_and_model_failures_show_a_message_and_the_studio_carries_on(page, site):
    url, _ = site
    open_studio(page, url)
    page.locator("#image-prompt textarea").fill("   ")
    page.locator("#image-generate").click()
    expect(page.get_by_text("Prompt must not be empty.")).to_be_visible(timeout=30_000)

    # A model that can't run here (its weights are not on this machine, and no hub access).
    page.locator("#image-preset input").click()
    page.get_by_role("option", name="sd-turbo", exact=True).click()
    page.locator("#image-prompt textarea").fill("a fox")
    page.locator("#image-generate").click()
    expect(page.get_by_text(re.compile("sd-turbo is not in the local cache"))).to_be_visible(timeout=30_000)

    page.locator("#image-preset input").click()
    page.get_by_role("option", name="tiny", exact=True).click()
    assert "seed" in generate(page, "image", "still working")


def test_share_publishes_the_result_and_gives_only_its_owner_the_token(page, site, artifacts):
    url, store = site
    open_studio(page, url)
    generate(page, "image", "a red kite over the hills")
    page.locator("#image-share").click()
    link = page.locator("#image-share-link").locator("input, textarea")
    expect(link).to_have_value(re.compile(rf"^{re.escape(url)}/r/[A-Za-z0-9_-]{{16}}$"), timeout=30_000)
    result_id = link.input_value().rsplit("/", 1)[1]

    assert store.get(result_id)["published"] is True
    token = page.evaluate(f"localStorage.getItem('atelier.owner.{result_id}')")
    assert token and store.is_owner(result_id, token)
    assert httpx.get(link.input_value()).status_code == 200  # the permalink page serves it
    expect(page.locator("#history .history-card em")).to_have_text("shared")

    # The sharer opens the link: the result is there, and their browser is offered the owner controls.
    page.goto(link.input_value())
    expect(page.get_by_role("heading", name="a red kite over the hills", exact=True)).to_be_visible()
    expect(page.locator(f'img[src*="/results/{result_id}/"]').first).to_be_visible()
    expect(page.get_by_role("button", name="Make unlisted")).to_be_visible()
    page.screenshot(path=artifacts / "studio-share-permalink.png", full_page=True)

    other = page.context.browser.new_context().new_page()  # another visitor
    open_studio(other, url)
    assert other.evaluate("localStorage.length") == 0
    assert token not in other.content()
    other.context.close()


def test_history_brings_back_a_result_and_its_settings(page, site):
    url, _ = site
    open_studio(page, url)
    page.locator("#image-random input").uncheck()
    set_number(page, "image-seed", 11)
    generate(page, "image", "first: a quiet harbour")
    generate(page, "image", "second: a busy market")  # still seed 11, the random toggle is off
    page.locator("#image-random input").check()
    generate(page, "image", "third: a snowy forest")
    expect(page.locator("#history .history-card")).to_have_count(3)

    page.locator("#history .history-card", has_text="first: a quiet harbour").click()
    expect(page.locator("#image-prompt textarea")).to_have_value("first: a quiet harbour")
    expect(page.locator("#image-seed input")).to_have_value("11")
    expect(page.locator("#image-random input")).not_to_be_checked()
    expect(page.locator("#image-details")).to_contain_text("seed 11")


def test_a_remix_link_fills_the_form_and_selects_the_tab(page, site):
    url, _ = site
    open_studio(page, url, {"kind": "music", "prompt": "slow jazz trio", "seed": 42, "duration": 7, "format": "mp3"})
    expect(page.get_by_role("tab", name="Music")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#music-prompt textarea")).to_have_value("slow jazz trio")
    expect(page.locator("#music-seed input")).to_have_value("42")
    expect(page.locator("#music-random input")).not_to_be_checked()
    expect(page.locator("#music-duration input[type=number]")).to_have_value("7")
    expect(page.locator("#music-format input[value=mp3]")).to_be_checked()

    open_studio(page, url, {"kind": "image", "prompt": "x", "steps": 99})
    expect(page.get_by_text("99 steps is too many for tiny: use at most 10.", exact=False)).to_be_visible()


def test_choosing_a_model_shows_only_the_settings_it_uses(page, site):
    url, _ = site
    open_studio(page, url)
    expect(page.locator("#image-negative")).to_be_visible()  # tiny uses a negative prompt
    page.locator("#image-preset input").click()
    page.get_by_role("option", name="sd-turbo", exact=True).click()
    expect(page.locator("#image-negative")).to_be_hidden()  # sd-turbo ignores it
    page.locator("#image-advanced").click()
    expect(page.locator("#image-steps input[type=number]")).to_have_value("2")
    expect(page.locator("#image-width input[type=number]")).to_have_value("512")
    page.locator("#image-aspect").get_by_text("16:9").click()
    expect(page.locator("#image-width input[type=number]")).to_have_value("680")
    expect(page.locator("#image-height input[type=number]")).to_have_value("384")


def test_an_example_fills_the_prompt(page, site):
    url, _ = site
    open_studio(page, url)
    page.locator("#image-examples").get_by_text("Watercolor lighthouse").click()
    expect(page.locator("#image-prompt textarea")).to_have_value(
        "A lighthouse on a cliff at dawn, watercolor, soft morning light"
    )


def test_music_options_follow_the_model(page, site):
    url, _ = site
    open_studio(page, url)
    select_tab(page, "Music")
    expect(page.locator("#music-melody")).to_be_hidden()
    expect(page.locator("#music-diffusion")).to_be_hidden()
    for preset, melody, diffusion in (("tiny-melody", True, False), ("tiny-audiocraft", False, True)):
        page.locator("#music-preset input").click()
        page.get_by_role("option", name=preset, exact=True).click()
        if melody:
            expect(page.locator("#music-melody")).to_be_visible()
        else:
            expect(page.locator("#music-melody")).to_be_hidden()
        if diffusion:
            expect(page.locator("#music-diffusion")).to_be_visible()
        else:
            expect(page.locator("#music-diffusion")).to_be_hidden()


def test_dropping_a_png_restores_the_settings_it_carries(page, site, artifacts, tmp_path):
    url, _ = site
    settings = {"prompt": "a harbour at dawn, gulls", "negative_prompt": "fog", "preset": "tiny", "seed": 1234,
                "steps": 3, "guidance": 1.5, "width": 128, "height": 96, "num_images": 2}
    png = tmp_path / "recipe.png"
    png.write_bytes(png_bytes(PILImage.new("RGB", (128, 96), (40, 90, 140)), settings))
    open_studio(page, url)
    page.locator("#image-recipe input[type=file]").set_input_files(str(png))
    expect(page.locator("#image-prompt textarea")).to_have_value("a harbour at dawn, gulls", timeout=30_000)
    expect(page.locator("#image-negative textarea")).to_have_value("fog")
    expect(page.locator("#image-seed input")).to_have_value("1234")
    expect(page.locator("#image-random input")).not_to_be_checked()
    page.locator("#image-advanced").click()
    expect(page.locator("#image-steps input[type=number]")).to_have_value("3")
    expect(page.locator("#image-width input[type=number]")).to_have_value("128")
    expect(page.locator("#image-height input[type=number]")).to_have_value("96")
    expect(page.locator("#image-count input[type=number]")).to_have_value("2")
    page.screenshot(path=artifacts / "studio-recipe-restored.png", full_page=True)

    plain = tmp_path / "plain.png"
    PILImage.new("RGB", (8, 8)).save(plain)
    page.locator("#image-recipe input[type=file]").set_input_files(str(plain))
    expect(page.get_by_text("That file carries no settings")).to_be_visible(timeout=30_000)
