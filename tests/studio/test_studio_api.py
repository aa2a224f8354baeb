"""The studio as gradio_client users see it: /generate_image and /generate_music (/generate_video:
tests/studio/test_studio_video.py) on a real server, with the tiny models running in the LocalBackend."""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from models.requests import ImageRequest, MusicRequest, VideoRequest
from tests.conftest import TINY
from tests.support.servers import FixedLatencyBackend, serving
from ui.gate import Gate
from ui.generation import LocalBackend
from ui.settings import ApiSettings
from ui.store import ResultStore
from ui.studio import build_studio
from ui.web import create_app


@pytest.fixture(scope="module")
def site(model_classes, tmp_path_factory):
    store = ResultStore(tmp_path_factory.mktemp("studio-api-store"))
    with serving(create_app(LocalBackend(model_classes, TINY), store)) as url:
        yield url, store


@pytest.fixture
def client(site, tmp_path):
    c = Client(site[0], verbose=False, analytics_enabled=False, download_files=str(tmp_path))
    yield c
    c.close()


def _stored_bytes(store: ResultStore, seed: int, kind: str) -> list[bytes]:
    (record,) = [r for r in store.list(published_only=False, kind=kind, limit=1000) if r["seed"] == seed]
    return [store.media_path(record["id"], f["name"])[0].read_bytes() for f in record["files"]]


# The image tab's Guide panel, as /generate_image takes it: made into `controls` and `references`.
GUIDE_PANEL = {"control_mode", "control_image", "control_drawing", "control_ready", "control_scale", "reference_image",
               "reference_scale"} | {f"control_{n}_{what}" for n in (2, 3) for what in ("mode", "image", "ready", "scale")}


def test_both_endpoints_take_the_request_fields_by_name(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/generate_image", "/generate_music", "/generate_video"}  # every other event is private
    for name, schema in (("/generate_image", ImageRequest), ("/generate_music", MusicRequest),
                         ("/generate_video", VideoRequest)):
        params = {p["parameter_name"] for p in endpoints[name]["parameters"]}
        assert params - {"random_seed"} - GUIDE_PANEL <= set(schema.model_fields)
        assert "prompt" in params and "seed" in params
        required = [p["parameter_name"] for p in endpoints[name]["parameters"] if not p["parameter_has_default"]]
        assert required == ["prompt"]
    assert {"melody", "diffusion_decoder"} <= {p["parameter_name"] for p in endpoints["/generate_music"]["parameters"]}


def test_generate_image_returns_the_stored_images_and_the_seed(site, client):
    _, store = site
    images, seed, details = client.predict(
        "a lighthouse at dawn", seed=1234, random_seed=False, num_images=2, steps=3, api_name="/generate_image"
    )
    assert seed == 1234 and "seed `1234`" in details and "3 steps" in details
    downloaded = [Path(item["image"]).read_bytes() for item in images]
    assert downloaded == _stored_bytes(store, 1234, "image")
    assert downloaded[0].startswith(b"\x89PNG")  # the model's PNG, not a re-encoded WebP

    # Same seed, same settings: the same pixels, through the whole path.
    again, _, _ = client.predict("a lighthouse at dawn", seed=1234, random_seed=False, num_images=2, steps=3,
                                 api_name="/generate_image")
    assert [Path(item["image"]).read_bytes() for item in again] == downloaded


def test_generate_music_makes_a_clip_longer_than_one_window(site, client):
    _, store = site
    clip, seed, details = client.predict(
        "warm lofi piano", duration=5, format="wav", seed=99, random_seed=False, api_name="/generate_music"
    )
    assert seed == 99 and "2 windows" in details  # the tiny preset's window is 4 s
    with wave.open(clip) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(5.0, abs=0.05)
    assert [Path(clip).read_bytes()] == _stored_bytes(store, 99, "music")


def test_a_random_seed_is_reported_so_it_can_be_reused(client):
    _, seed, _ = client.predict("noise", random_seed=True, api_name="/generate_image")
    assert isinstance(seed, int) and seed >= 0


@pytest.mark.parametrize(
    ("api_name", "args", "message"),
    [
        ("/generate_image", {"prompt": "   "}, "Prompt must not be empty."),
        ("/generate_image", {"prompt": "x", "steps": 50}, "50 steps is too many for tiny: use at most 10."),
        ("/generate_image", {"prompt": "x", "preset": "sd-turbo"}, "stabilityai/sd-turbo is not in the local cache"),
        ("/generate_music", {"prompt": "x", "duration": 900}, "Duration"),
    ],
    ids=["empty prompt", "preset limit", "model unavailable", "too long"],
)
def test_bad_input_and_model_failures_are_readable_errors(client, api_name, args, message):
    with pytest.raises(AppError, match=message.replace("(", r"\(").replace(")", r"\)")) as failure:
        client.predict(**args, api_name=api_name)
    assert "Traceback" not in str(failure.value)
    _, seed, _ = client.predict("still serving", seed=5, random_seed=False, api_name="/generate_image")
    assert seed == 5  # and the studio carries on


def test_gradio_serves_no_file_from_the_store_or_the_disk(site, client):
    url, store = site
    client.predict("something to find", api_name="/generate_image")
    record = store.list(published_only=False, limit=1)[0]
    folder = store.media_path(record["id"], record["files"][0]["name"])[0].parent
    for path in (folder / "record.json", folder / record["files"][0]["name"], Path("/etc/passwd")):
        response = httpx.get(f"{url}/gradio_api/file={path}")
        assert response.status_code == 403, path
    assert httpx.get(f"{url}/results/{record['id']}/record.json").status_code == 404  # not a listed file


def _tune(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.4 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def test_a_melody_preset_follows_an_uploaded_tune(site, client, tmp_path):
    _, store = site
    _, seed, details = client.predict(
        "hum along", preset="tiny-melody", duration=3, melody=handle_file(str(_tune(tmp_path / "tune.wav"))),
        seed=31, random_seed=False, api_name="/generate_music",
    )
    (record,) = [r for r in store.list(published_only=False, kind="music", limit=1000) if r["seed"] == 31]
    assert record["melody"]["seconds"] == pytest.approx(2.0, abs=0.05)

    with pytest.raises(AppError, match="tiny can't follow a melody"):
        client.predict("hum along", preset="tiny", melody=handle_file(str(tmp_path / "tune.wav")),
                       api_name="/generate_music")


def test_a_request_naming_a_file_on_the_server_is_refused(site, tmp_path):
    """Gradio reads an input file only if it was uploaded to it: a client can't name a server path."""
    url, store = site
    tune = _tune(tmp_path / "on-the-server.wav")  # a perfectly good melody, but not an upload
    before = len(store)
    raw = {"path": str(tune), "meta": {"_type": "gradio.FileData"}}
    data = ["x", "tiny-melody", 2, "wav", 0, True, 1.0, 250, 3.0, raw, False]
    event = httpx.post(f"{url}/gradio_api/call/generate_music", json={"data": data}).json()["event_id"]
    stream = httpx.get(f"{url}/gradio_api/call/generate_music/{event}", timeout=60).text
    assert "event: error" in stream and "event: complete" not in stream
    assert len(store) == before


def test_a_full_queue_refuses_with_a_message(tmp_path):
    """More requests than the studio takes at once plus its queue: the extra one is told so."""
    backend = FixedLatencyBackend(latency=1.5, steps=2)  # test double: slow enough to fill the queue
    studio = build_studio(backend, ResultStore(tmp_path), Gate(ApiSettings()), max_active=1, max_waiting=1)
    app = gr.mount_gradio_app(FastAPI(), studio, "/")
    with serving(app) as url:
        clients = [Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path)) for _ in range(3)]
        outcomes: list[str] = []

        def call(c: Client) -> None:
            try:
                c.predict("busy", api_name="/generate_image")
                outcomes.append("done")
            except Exception as e:  # gradio_client raises its own QueueError
                outcomes.append(str(e))

        threads = [threading.Thread(target=call, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        for c in clients:
            c.close()
    assert sorted(outcomes) == ["Queue is full! Please try again.", "done", "done"]


def test_generate_image_starts_from_an_editor_value_and_reads_no_file_outside_gradios_uploads(site, client, tmp_path):
    from PIL import Image

    _, store = site
    picture, mask = tmp_path / "picture.png", tmp_path / "mask.png"
    Image.effect_noise((96, 64), 60).convert("RGB").save(picture)
    layer = Image.new("RGBA", (96, 64), (0, 0, 0, 0))  # a brush layer: one stroke on transparency
    layer.paste((255, 255, 255, 255), (0, 0, 40, 64))
    layer.save(mask)
    editor = {"background": handle_file(str(picture)), "layers": [handle_file(str(mask))], "composite": None}
    _, seed, details = client.predict("from a picture", image=editor, strength=0.5, seed=77, random_seed=False,
                                      api_name="/generate_image")
    (record,) = [r for r in store.list(published_only=False, limit=1000) if r["seed"] == 77]
    assert record["input"]["mode"] == "inpainting" and record["parameters"]["strength"] == 0.5
    assert (record["parameters"]["width"], record["parameters"]["height"]) == (96, 64)
    assert "inpainting, strength 0.5" in details

    # A FileData naming a file on the server outside Gradio's uploads (here a stored result's PNG,
    # sent raw: gradio_client would upload a local path first) is refused before the handler runs.
    url, _ = site
    stored = store.media_path(record["id"], record["files"][0]["name"])[0]

    def call(background_path: str) -> str:
        editor = {"background": {"path": background_path, "meta": {"_type": "gradio.FileData"}}, "layers": [],
                  "composite": None}
        args = ["x", "", None, None, None, None, None, 0, True, 1, editor, 0.5, "",  # ..., strength, loras,
                None, None, None, False, 1.0, None, 0.6,  # and an empty Guide panel, its second and third controls
                None, None, False, 1.0, None, None, False, 1.0]
        event = httpx.post(f"{url}/gradio_api/call/generate_image", json={"data": args}).json()["event_id"]
        return httpx.get(f"{url}/gradio_api/call/generate_image/{event}", timeout=120).text

    with stored.open("rb") as f:  # the same bytes as an upload: accepted (the call itself is well formed)
        (uploaded,) = httpx.post(f"{url}/gradio_api/upload", files={"files": ("in.png", f, "image/png")}).json()
    assert "event: complete" in call(uploaded)
    before = len(store.list(published_only=False, limit=1000))
    refused = call(str(stored))
    assert "event: error" in refused and "event: complete" not in refused, refused
    assert len(store.list(published_only=False, limit=1000)) == before


def test_generate_image_takes_a_control_and_a_reference_from_the_guide_panels_arguments(site, client, tmp_path):
    from PIL import Image, ImageDraw

    _, store = site
    edges, style = tmp_path / "edges.png", tmp_path / "style.png"
    picture = Image.new("RGB", (96, 64), "black")
    ImageDraw.Draw(picture).rectangle((24, 16, 71, 47), fill="white")
    picture.save(edges)
    Image.new("RGB", (40, 40), (30, 90, 200)).save(style)
    _, _, details = client.predict("a guided fox", control_mode="canny", control_image=handle_file(str(edges)),
                                   control_scale=0.7, reference_image=handle_file(str(style)), reference_scale=0.4,
                                   seed=91, random_seed=False, api_name="/generate_image")
    (record,) = [r for r in store.list(published_only=False, limit=1000) if r["seed"] == 91]
    (control,) = record["guides"]["controls"]
    assert (control["mode"], control["scale"], control["preprocess"]) == ("canny", 0.7, True)
    assert record["guides"]["references"][0]["scale"] == 0.4
    assert (record["parameters"]["width"], record["parameters"]["height"]) == (96, 64)  # the control's shape
    with pytest.raises(AppError, match="tiny has no blur control"):
        client.predict("x", control_mode="blur", control_image=handle_file(str(edges)), api_name="/generate_image")


def test_generate_image_takes_the_guide_panels_second_and_third_controls(site, client, tmp_path):
    from PIL import Image, ImageDraw

    _, store = site
    edges = tmp_path / "edges.png"
    picture = Image.new("RGB", (64, 64), "black")
    ImageDraw.Draw(picture).ellipse((12, 12, 52, 52), outline="white", width=3)
    picture.save(edges)
    client.predict("three guides", control_mode="canny", control_image=handle_file(str(edges)),
                   control_2_mode="depth", control_2_image=handle_file(str(edges)), control_2_scale=0.5,
                   control_3_mode="scribble", control_3_image=handle_file(str(edges)), control_3_ready=True,
                   control_3_scale=0.25, seed=92, random_seed=False, api_name="/generate_image")
    (record,) = [r for r in store.list(published_only=False, limit=1000) if r["seed"] == 92]
    assert [(c["mode"], c["scale"], c["preprocess"]) for c in record["guides"]["controls"]] == [
        ("canny", 1.0, True), ("depth", 0.5, True), ("scribble", 0.25, False)]
