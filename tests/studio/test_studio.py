"""The studio's pieces that need no server: sizes, bounds, history, remix links, links."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.context import LocalContext
from starlette.requests import Request as StarletteRequest

from models.common.errors import RequestError
from models.presets import IMAGE_PRESETS
from models.requests import ImageRequest, MusicRequest, parse
from tests.support.servers import FixedLatencyBackend
from ui.gate import Gate
from ui.settings import ApiSettings
from ui.store import ResultStore
from ui.studio import checked_fields
from ui.studio.controls import SeedRow, bounds, overlay, slider
from ui.studio.image_tab import ASPECTS, aspect_of, size_for
from ui.studio.page import build_studio
from ui.studio.run import RUNNING, public_base_url, waiting_message
from ui.studio.session import HISTORY_SIZE, Entry, History, media_url
from ui.studio.share import history_html


@pytest.mark.parametrize("preset", IMAGE_PRESETS.values(), ids=list(IMAGE_PRESETS))
@pytest.mark.parametrize("aspect", ASPECTS)
def test_every_aspect_gives_a_size_the_preset_accepts(preset, aspect):
    width, height = size_for(aspect, preset)
    job = parse("image", {"prompt": "x", "preset": preset.name, "width": width, "height": height}).resolve("tiny")
    assert (job.width, job.height) == (width, height)  # resolve raised nothing: on the grid, within limits
    assert aspect_of(width, height) == aspect
    if preset.size >= 256:  # big enough that no bound bends it: about the preset's native pixel count
        assert width * height == pytest.approx(preset.size**2, rel=0.08)


def test_sliders_take_their_limits_from_the_request_schema():
    width = bounds(ImageRequest, "width")
    assert (width.low, width.high, width.step) == (64, 2048, 8)
    assert slider(ImageRequest, "width", 512, high=768).maximum == 768  # a preset may cap it lower
    temperature = slider(MusicRequest, "temperature", 1.0, step=0.05)
    assert temperature.minimum == pytest.approx(0.05)  # the schema's bound is exclusive (> 0)
    parse("music", {"prompt": "x", "temperature": temperature.minimum})  # the slider's lowest value is valid


def test_filling_a_form_keeps_what_the_preset_set_besides_the_value():
    decoder, steps, seed = gr.Checkbox(), gr.Slider(), SeedRow(gr.Number(), gr.Checkbox())
    settings = {decoder: gr.update(visible=True, value=False), steps: gr.update(value=2, maximum=10)}
    filled = overlay(settings, {"diffusion_decoder": True, "steps": 4, "seed": 9}, {"diffusion_decoder": decoder,
                     "steps": steps}, seed)
    assert filled[decoder]["visible"] is True and filled[decoder]["value"] is True  # still shown for this preset
    assert filled[steps]["maximum"] == 10 and filled[steps]["value"] == 4
    assert filled[seed.seed] == 9 and filled[seed.randomize] is False  # a given seed is used, not redrawn
    assert overlay(settings, {}, {"steps": steps}, seed) == settings  # nothing given: the preset's defaults


def _entry(prompt: str, kind: str = "image", token: str = "owner-secret-token", n: int = 0) -> Entry:
    record = {
        "id": f"abcdefghijklmn{n:02d}",
        "kind": kind,
        "parameters": {"prompt": prompt, "preset": "tiny"},
        "seed": 7,
        "files": [{"name": "image-0.png", "mime": "image/png", "bytes": 1} if kind == "image"
                  else {"name": "music.wav", "mime": "audio/wav", "bytes": 1}],
        "published": False,
        **({"audio": {"seconds": 5.0}} if kind == "music" else {}),
    }
    return Entry(record, token)


def test_history_strip_shows_prompts_as_text_and_never_the_owner_token():
    history = History()
    history.add(_entry("fox ${alert(1)} `tick` <img src=x onerror=alert(2)> \\u0041", token="s3cret-token"))
    history.add(_entry("a <b>loud</b> clip", kind="music", n=1))
    html = history_html(history)
    # gr.HTML evaluates "${...}" in its template: the prompt must reach it as data, escaped.
    assert "<img src=x" not in html and "<b>" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html and "&lt;b&gt;loud&lt;/b&gt;" in html
    assert "s3cret-token" not in html
    assert html.index("abcdefghijklmn01") < html.index("abcdefghijklmn00")  # newest first
    assert f'src="{media_url(history.entries[1].record)}"' in html  # image thumbnails from the store's route
    assert "5 s" in html  # a clip shows its length


def test_history_keeps_the_newest_entries_only():
    history = History()
    for n in range(HISTORY_SIZE + 3):
        history.add(_entry(f"prompt {n}", n=n))
    assert len(history.entries) == HISTORY_SIZE
    assert history.entries[0].record["parameters"]["prompt"] == f"prompt {HISTORY_SIZE + 2}"
    assert history.find("abcdefghijklmn00") is None  # the oldest dropped off
    assert history_html(History()).startswith('<p class="history-empty">')


def _request(headers: dict[str, str], scheme: str = "http") -> gr.Request:
    scope = {
        "type": "http", "scheme": scheme, "method": "POST", "path": "/gradio_api/queue/join", "query_string": b"",
        "server": ("10.0.0.5", 8000), "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return gr.Request(StarletteRequest(scope))


def test_share_links_use_the_host_the_visitor_used():
    assert public_base_url(_request({"host": "127.0.0.1:8123"})) == "http://127.0.0.1:8123"
    behind_proxy = _request({"host": "10.0.0.5:8000", "x-forwarded-host": "me--atelier.modal.run",
                             "x-forwarded-proto": "https, http"})
    assert public_base_url(behind_proxy) == "https://me--atelier.modal.run"


def test_remix_query_is_checked_by_the_request_schema():
    backend = FixedLatencyBackend()  # defaults: tiny
    query = {"kind": "image", "prompt": "a fox", "seed": "42", "steps": "3", "__theme": "dark", "utm_source": "x"}
    assert checked_fields(backend, "image", query) == {"prompt": "a fox", "seed": 42, "steps": 3}
    assert checked_fields(backend, "music", {"prompt": "lofi", "duration": "45", "format": "mp3"}) == {
        "prompt": "lofi", "duration": 45.0, "format": "mp3",
    }
    with pytest.raises(RequestError, match="at most 10"):  # the preset's own limit, as a generation would check
        checked_fields(backend, "image", {"prompt": "a fox", "steps": "50"})
    with pytest.raises(RequestError, match="Unknown image preset 'nope'"):
        checked_fields(backend, "image", {"prompt": "a fox", "preset": "nope"})
    with pytest.raises(RequestError, match="Prompt is required"):
        checked_fields(backend, "image", {"seed": "1"})


def test_the_place_in_line_reads_as_an_ordinal():
    assert [waiting_message(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        f"Waiting for a free model: {n} in line"
        for n in ("1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th")
    ]
    assert waiting_message(None) == "Waiting for a free GPU…"  # on Modal before the web side knows


def test_every_tab_has_a_stop_that_cancels_its_generation(tmp_path):
    """Both tabs' Stop buttons cancel the event that runs their generation (the browser test
    presses the music one: tests/studio/test_browser_stop.py), and a closed page runs unload."""
    config = build_studio(FixedLatencyBackend(), ResultStore(tmp_path), Gate(ApiSettings())).get_config_file()
    ids = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
    deps = config["dependencies"]
    for kind in ("image", "music"):
        generation = next(d for d in deps if d["api_name"] == f"generate_{kind}")
        on_stop = [d for d in deps if [ids[f"{kind}-stop"], "click"] in map(list, d["targets"])]
        assert [d["cancels"] for d in on_stop if d["cancels"]] == [[generation["id"]]], kind
    assert any(list(t)[1] == "unload" for d in deps for t in d["targets"])


def test_a_gone_page_cancels_only_its_own_generations():
    async def scenario():
        started = asyncio.Event()

        async def generation(session: str):
            LocalContext.request.set(SimpleNamespace(session_hash=session))  # as Gradio sets it per event
            with RUNNING.noted():
                started.set()
                await asyncio.sleep(60)

        gone, staying = asyncio.create_task(generation("gone")), asyncio.create_task(generation("staying"))
        await started.wait()
        await asyncio.sleep(0)
        assert RUNNING.stop("gone") == 1 and RUNNING.stop("never seen") == 0
        await asyncio.gather(gone, return_exceptions=True)
        assert gone.cancelled() and not staying.done()
        staying.cancel()
        await asyncio.gather(staying, return_exceptions=True)
        assert RUNNING.stop("staying") == 0  # noted only while it ran

    asyncio.run(scenario())
