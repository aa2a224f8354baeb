"""Live previews on the tiny models: what they are, when they come, what they cost."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
from PIL import Image

from models.image.previews import PREVIEW_SIDE, Throttle, factors_for
from models.music.waveform import HEIGHT, INK, WIDTH, waveform_png
from models.requests import ImageRequest, MusicRequest
from tests.support.images import placed_generator


def events(model_classes, request: ImageRequest) -> list[dict]:
    job = request.resolve("tiny")
    return list(model_classes["image"](preset=job.preset).generate.local(job))


def test_an_image_forming_is_previewed_between_steps(model_classes):
    progress = [e for e in events(model_classes, ImageRequest(prompt="a fox", steps=6, width=64, height=96))
                if e["type"] == "progress"]
    with_preview = [e for e in progress if "preview" in e]
    assert with_preview, "no preview in six steps"
    assert all(0 < e["done"] < 6 for e in with_preview)  # none before the first step, none at the end
    for e in with_preview:
        assert e["preview"]["mime"] == "image/webp"
        picture = Image.open(io.BytesIO(e["preview"]["data"]))
        assert picture.format == "WEBP" and max(picture.size) == PREVIEW_SIDE
        assert picture.size[1] > picture.size[0]  # the image's own aspect (64×96)


def test_each_request_in_a_batch_gets_a_preview_of_its_own_image(model_classes):
    """Two different seeds: two different pictures forming (checked through the batch path)."""
    from models.common.batching import Batch

    model = placed_generator("tiny")
    seen: dict[int, list[bytes]] = {0: [], 1: []}
    jobs = [ImageRequest(prompt="a fox", seed=s, steps=4).resolve("tiny") for s in (1, 2)]

    def reporter(i):
        return lambda done, total, stage, preview=None: preview and seen[i].append(preview["data"])

    model._run_batch(Batch(jobs, [reporter(0), reporter(1)]))
    assert seen[0] and seen[1] and seen[0][0] != seen[1][0]


def test_previews_stay_within_their_share_of_the_time():
    now = [0.0]
    throttle = Throttle(budget=0.10, clock=lambda: now[0])
    assert throttle.due()  # the first one is free to go
    now[0] += 0.0
    throttle.timed(lambda: now.__setitem__(0, now[0] + 0.5))  # a preview that took 0.5 s
    now[0] += 1.0  # 1.5 s in, 0.5 s of it previews
    assert not throttle.due()
    now[0] += 3.5  # 5 s in: 10%
    assert throttle.due()


def test_pipelines_without_4_channel_unet_latents_get_no_preview():
    assert factors_for(SimpleNamespace(transformer=object())) is None  # FLUX: packed latents
    assert factors_for(SimpleNamespace(unet=SimpleNamespace(config=SimpleNamespace(in_channels=9)))) is None


# --- music: the waveform so far, between windows ----------------------------------------------


def music_events(model_classes, request: MusicRequest) -> list[dict]:
    job = request.resolve("tiny")
    return list(model_classes["music"](preset=job.preset).generate.local(job))


def test_a_long_clip_shows_its_waveform_so_far_between_windows(model_classes):
    # The tiny preset's window is 4 s: 9 s with 1 s overlap takes three passes, so two previews.
    progress = [e for e in music_events(model_classes, MusicRequest(prompt="lofi beat", duration=9, overlap=1))
                if e["type"] == "progress"]
    with_preview = [e for e in progress if "preview" in e]
    assert [e["done"] for e in with_preview] == [4000, 7000]  # after the first and second windows
    widths = []
    for e in with_preview:
        assert e["preview"]["mime"] == "image/png"
        picture = Image.open(io.BytesIO(e["preview"]["data"]))
        assert picture.size == (WIDTH, HEIGHT)
        inked = np.nonzero(np.asarray(picture)[..., 3].max(axis=0) > 0)[0]  # columns with anything drawn
        drawn = np.nonzero((np.asarray(picture)[..., :3] == INK[:3]).all(axis=-1).any(axis=0))[0]
        assert inked.size == WIDTH  # the waveform, then the line still to fill
        widths.append(drawn.max() + 1)
    # The waveform covers the share of the clip made so far: 4/9 then 7/9 of the width.
    assert widths == [round(WIDTH * 4 / 9), round(WIDTH * 7 / 9)]


def test_a_clip_of_one_window_has_no_preview(model_classes):
    events_ = music_events(model_classes, MusicRequest(prompt="lofi beat", duration=3))
    assert not any("preview" in e for e in events_)


def test_the_waveform_follows_the_audio():
    rate = 8000
    silence_then_noise = np.concatenate([np.zeros(rate), np.random.default_rng(0).uniform(-1, 1, rate).astype(np.float32)])
    picture = np.asarray(Image.open(io.BytesIO(waveform_png(silence_then_noise, 2.0, rate))))
    ink = (picture[..., :3] == INK[:3]).all(axis=-1)
    height = ink.sum(axis=0)  # pixels drawn per column
    assert height[: WIDTH // 2 - 8].max() <= 2  # silence: a flat line (columns hold 26 or 27 samples)
    assert height[WIDTH // 2 + 8:].min() >= HEIGHT // 2  # full-scale noise: a tall band
