"""The studio's Video tab: through gradio_client's /generate_video, and in a real browser (Debian
chromium through Playwright) where a visitor makes a clip from an image result ("Animate"),
watches its progress and forming frame, and plays it (its currentTime advances). tiny-video
(LTX-Video's architecture in miniature) runs in the LocalBackend."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from playwright.sync_api import expect

from tests.studio.test_browser_studio import RECORD_PROGRESS_JS
from tests.support.studio import GENERATION_TIMEOUT_MS, generate, open_studio, set_number


@pytest.fixture
def client(site, tmp_path):
    c = Client(site[0], verbose=False, analytics_enabled=False, download_files=str(tmp_path))
    yield c
    c.close()


def test_generate_video_returns_the_stored_clip_from_a_start_picture(site, client, tmp_path):
    _, store = site
    Image.new("RGB", (64, 64), (40, 120, 200)).save(tmp_path / "start.png")
    clip, seed, details = client.predict("a paper boat", duration=1, seed=8, random_seed=False,
                                         image=handle_file(str(tmp_path / "start.png")), api_name="/generate_video")
    assert seed == 8 and "9 frames at 8 fps" in details and "from a start picture" in details
    (record,) = [r for r in store.list(published_only=False, kind="video", limit=100) if r["seed"] == 8]
    stored = store.media_path(record["id"], "video.mp4")[0].read_bytes()
    assert Path(clip).read_bytes() == stored  # the model's MP4 as it is, not re-encoded
    assert record["parameters"]["width"] == record["parameters"]["height"] == 64  # the picture's shape


def test_bad_video_input_is_a_readable_error(client):
    with pytest.raises(AppError, match="600 s is too long for tiny-video") as failure:
        client.predict("waves", duration=600, api_name="/generate_video")
    assert "Traceback" not in str(failure.value)


def test_animate_an_image_then_play_the_clip(page, site, artifacts):
    url, store = site
    open_studio(page, url)
    generate(page, "image", "a lighthouse at dusk")
    page.locator("#image-animate").click()  # the image on show becomes the clip's start picture
    expect(page.locator("#video-image img")).to_be_visible(timeout=30_000)
    assert page.locator("#video-prompt textarea").input_value() == "a lighthouse at dusk"
    page.evaluate(RECORD_PROGRESS_JS.replace("#music-details img", "#music-details img, #video-details img"))
    page.locator("#video-advanced").click()
    set_number(page, "video-steps", 6)  # steps enough to watch the clip form
    details = generate(page, "video", "a lighthouse at dusk, waves crashing")
    assert "from a start picture" in details and "6 steps" in details
    seen = page.evaluate("window.progressSeen")
    assert any(t.startswith("Denoising") for t in seen) and any(t.startswith("Encoding") for t in seen), seen
    assert any(src.startswith("data:image/webp;base64,") for src in page.evaluate("window.picturesSeen"))

    video = page.locator("#video-player video")
    expect(video).to_have_attribute("src", re.compile(r"/gradio_api/file=.*\.mp4$"),
                                    timeout=GENERATION_TIMEOUT_MS)
    played = video.evaluate("""async v => {
        v.muted = true;
        await v.play();
        const start = v.currentTime;
        await new Promise(r => setTimeout(r, 600));
        return {start, now: v.currentTime, duration: v.duration, error: v.error && v.error.code};
    }""")
    assert played["error"] is None and played["now"] > played["start"], played
    assert played["duration"] == pytest.approx(17 / 8, abs=0.15)  # tiny-video's default: 17 frames at 8 fps
    expect(page.locator("#history .history-video img")).to_have_count(1)  # the poster in the strip
    page.screenshot(path=artifacts / "studio-video.png", full_page=True)


def test_a_share_page_plays_the_clip_with_its_poster(page, site, artifacts):
    url, store = site
    made = httpx.post(f"{url}/api/v1/videos", json={"prompt": "a kite over a beach", "frames": 17, "seed": 2},
                      timeout=120).json()["result"]
    page.goto(made["permalink"])
    video = page.locator("video")
    expect(video).to_have_attribute("poster", f"/results/{made['id']}/poster.webp")
    played = video.evaluate("""async v => {
        v.muted = true;
        await v.play();
        const start = v.currentTime;
        await new Promise(r => setTimeout(r, 600));
        return {start, now: v.currentTime, error: v.error && v.error.code};
    }""")
    assert played["error"] is None and played["now"] > played["start"], played
    poster = Image.open(io.BytesIO(httpx.get(f"{url}/results/{made['id']}/poster.webp").content))
    assert poster.size == (96, 64)
    page.screenshot(path=artifacts / "pages-video.png", full_page=True)
