"""Speed switches (models/speed.py) on the tiny presets, through the app's model classes:
the float32 switches leave the image as it was; the others change it, and say so."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from models.presets import IMAGE_PRESETS, MUSIC_PRESETS, NO_SPEEDUPS, BuiltWeights, SpeedOptions, all_weights
from models.requests import ImageRequest, MusicRequest
from models.speed import cpu_has_native_bf16

TAESD_TWIN = BuiltWeights("models.twins:build_taesd_twin", "taesd-twin")


@pytest.fixture
def restore_threads():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # set_num_threads is process-wide: don't slow later tests


def tiny_with(monkeypatch, kind: str, speed: SpeedOptions) -> str:
    """A copy of the tiny preset with `speed`, on the same built weights."""
    table = {"image": IMAGE_PRESETS, "music": MUSIC_PRESETS}[kind]
    name = f"tiny-speed-{abs(hash(speed))}"
    monkeypatch.setitem(table, name, replace(table["tiny"], name=name, speed=speed))
    return name


def image(model_classes, monkeypatch, speed: SpeedOptions, seed: int = 5) -> tuple[np.ndarray, dict]:
    preset = tiny_with(monkeypatch, "image", speed)
    job = ImageRequest(prompt="a red fox", seed=seed, preset=preset).resolve("tiny")
    *_, result = model_classes["image"](preset=preset).generate.local(job.model_dump())
    return np.asarray(Image.open(io.BytesIO(result["files"][0]["data"]))), result["record"]


def test_float32_switches_give_the_same_image_for_the_same_seed(model_classes, monkeypatch, restore_threads):
    plain, record = image(model_classes, monkeypatch, NO_SPEEDUPS)
    fast, fast_record = image(model_classes, monkeypatch, SpeedOptions(channels_last=True, threads=1))
    assert "speed" not in record["model"] and fast_record["model"]["speed"] == {"channels_last": True, "threads": 1}
    # NHWC convolutions may sum in another order: at most one level of 255 on a pixel.
    assert np.abs(plain.astype(int) - fast.astype(int)).max() <= 1
    assert np.mean(plain != fast) < 0.01


def test_fast_decoder_makes_an_image_of_the_requested_size_and_says_so(model_classes, monkeypatch):
    plain, _ = image(model_classes, monkeypatch, NO_SPEEDUPS)
    fast, record = image(model_classes, monkeypatch, SpeedOptions(fast_decoder=TAESD_TWIN))
    assert fast.shape == plain.shape and fast.std() > 0
    assert not np.array_equal(plain, fast)  # a different decoder: different pixels
    assert record["model"]["speed"]["decoder"] == "taesd-twin: random weights built offline"


def test_cpu_bf16_runs_where_the_cpu_has_it_and_is_ignored_elsewhere(model_classes, monkeypatch):
    plain, _ = image(model_classes, monkeypatch, NO_SPEEDUPS)
    half, record = image(model_classes, monkeypatch, SpeedOptions(cpu_bf16=True))
    if cpu_has_native_bf16():
        assert record["model"]["speed"] == {"dtype": "bfloat16"} and half.shape == plain.shape and half.std() > 0
    else:
        assert "speed" not in record["model"] and np.array_equal(plain, half)


def test_music_in_cpu_bf16_makes_a_clip(model_classes, monkeypatch):
    preset = tiny_with(monkeypatch, "music", SpeedOptions(cpu_bf16=True))
    job = MusicRequest(prompt="beat", duration=1, seed=3, preset=preset).resolve("tiny")
    *_, result = model_classes["music"](preset=preset).generate.local(job.model_dump())
    assert result["type"] == "result" and len(result["files"][0]["data"]) > 1000


def test_a_fast_decoder_decodes_on_a_cpu_and_on_a_gpu_only_when_asked(monkeypatch):
    import models.speed as speed

    on_cpu_only, everywhere = SpeedOptions(fast_decoder=TAESD_TWIN), SpeedOptions(fast_decoder=TAESD_TWIN,
                                                                                   fast_decoder_on_gpu=True)
    assert speed.uses_fast_decoder(on_cpu_only) and speed.uses_fast_decoder(everywhere)
    monkeypatch.setattr(speed, "target_device", lambda: "cuda")
    assert not speed.uses_fast_decoder(on_cpu_only) and speed.applied(on_cpu_only) == {}
    assert speed.uses_fast_decoder(everywhere) and speed.applied(everywhere)["decoder"].startswith("taesd-twin")


def test_every_weights_a_preset_loads_are_fetched_with_it():
    sd_turbo = IMAGE_PRESETS["sd-turbo"]
    assert all_weights(sd_turbo) == [sd_turbo.weights, sd_turbo.speed.fast_decoder]
    assert sd_turbo.speed.fast_decoder.repo == "madebyollin/taesd"  # the laptop default decodes with TAESD
    mbd = MUSIC_PRESETS["tiny-audiocraft"]
    assert all_weights(mbd) == [mbd.weights, mbd.diffusion_decoder]
    assert all_weights(IMAGE_PRESETS["tiny"]) == [IMAGE_PRESETS["tiny"].weights]
