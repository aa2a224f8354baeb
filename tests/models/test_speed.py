"""Speed switches (models/common/speed.py) on the tiny presets, through the app's model classes:
the float32 switches leave the image as it was; the others change it, and say so."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from models.common.speed import NO_SPEEDUPS, SpeedOptions, cpu_has_native_bf16
from models.common.weights import BuiltWeights
from models.presets import IMAGE_PRESETS, MUSIC_PRESETS, all_weights
from models.requests import ImageRequest, MusicRequest

TAESD_TWIN = BuiltWeights("models.random_weights.image_twins:build_taesd_twin", "taesd-twin")


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
    *_, result = model_classes["image"](preset=preset).generate.local(job)
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
    *_, result = model_classes["music"](preset=preset).generate.local(job)
    assert result["type"] == "result" and len(result["files"][0]["data"]) > 1000


def test_a_fast_decoder_decodes_on_a_cpu_and_on_a_gpu_only_when_asked(monkeypatch):
    import models.common.speed as speed

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


def test_fused_qkv_gives_the_same_image_and_says_so(model_classes, monkeypatch):
    plain, _ = image(model_classes, monkeypatch, NO_SPEEDUPS)
    fused, record = image(model_classes, monkeypatch, SpeedOptions(fuse_qkv=True))
    assert record["model"]["speed"] == {"fused_qkv": True}
    # One product over the concatenated weights sums in another order: at most a level on a pixel.
    assert np.abs(plain.astype(int) - fused.astype(int)).max() <= 1


def test_fused_qkv_on_an_mmdit_too(model_classes, monkeypatch):
    def sd3(speed):
        name = f"tiny-sd3-speed-{abs(hash(speed))}"
        monkeypatch.setitem(IMAGE_PRESETS, name, replace(IMAGE_PRESETS["tiny-sd3"], name=name, speed=speed))
        job = ImageRequest(prompt="a red fox", seed=5, preset=name).resolve("tiny-sd3")
        *_, result = model_classes["image"](preset=name).generate.local(job)
        return np.asarray(Image.open(io.BytesIO(result["files"][0]["data"]))).astype(int)

    difference = np.abs(sd3(NO_SPEEDUPS) - sd3(SpeedOptions(fuse_qkv=True)))
    # The random MMDiT amplifies float32 rounding more than the UNet: a level on about a third of
    # the pixels, a few at most (a wrong fusion, e.g. q and k swapped, moves pixels by tens).
    assert difference.max() <= 4 and difference.mean() < 1


def wav_samples(data: bytes) -> np.ndarray:
    import wave

    with wave.open(io.BytesIO(data)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def clip(model_classes, monkeypatch, speed: SpeedOptions) -> tuple[np.ndarray, dict]:
    """A 6 s tiny clip with `speed`: two of the tiny preset's 4 s windows, the second continuing
    the first's audio. (its samples, its record)"""
    preset = tiny_with(monkeypatch, "music", speed)
    job = MusicRequest(prompt="beat", duration=6, seed=3, preset=preset).resolve("tiny")
    *_, result = model_classes["music"](preset=preset).generate.local(job)
    return wav_samples(result["files"][0]["data"]), result["record"]


def test_music_with_a_static_cache_is_the_same_clip_across_windows(model_classes, monkeypatch):
    """The second window continues the first's audio, so its cache is sized for an audio prompt too
    (one slot short fails: tests/models/test_musicgen_cache.py)."""
    from transformers.cache_utils import StaticLayer

    plain, _ = clip(model_classes, monkeypatch, NO_SPEEDUPS)
    writes = []
    update = StaticLayer.update
    monkeypatch.setattr(StaticLayer, "update", lambda self, *a, **kw: (writes.append(1), update(self, *a, **kw))[1])
    static, record = clip(model_classes, monkeypatch, SpeedOptions(static_cache=True))
    assert record["model"]["speed"] == {"static_cache": True} and writes  # claimed, and decoded into
    assert len(plain) == 6 * 32000 and np.array_equal(plain, static)


def test_compile_is_for_gpus_and_keeps_its_cache_where_it_is_told(monkeypatch, tmp_path):
    import os

    import models.common.speed as speed

    compiled = SpeedOptions(compile=True)
    assert not speed.uses_compile(compiled) and "compiled" not in speed.applied(compiled)  # this CPU
    monkeypatch.setattr(speed, "target_device", lambda: "cuda")
    assert speed.uses_compile(compiled) and speed.applied(compiled) == {"compiled": True}
    assert not speed.uses_compile(NO_SPEEDUPS)

    for name in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATELIER_COMPILE_CACHE", str(tmp_path / "cache"))
    speed.use_compile_cache()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cache" / "inductor")
    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "cache" / "triton")


@pytest.mark.parametrize("gpu_snapshot", ["1", ""])
def test_the_model_is_placed_once_whichever_phase_places_it(model_classes, monkeypatch, gpu_snapshot):
    """With GPU memory snapshots the load hook (snapshot phase) places the model; without, the
    restore-phase hook does. Either way once, and the model serves."""
    from models.image.generator import ImageGenerator

    monkeypatch.setenv("ATELIER_GPU_SNAPSHOT", gpu_snapshot)
    calls = []
    place = ImageGenerator._place
    monkeypatch.setattr(ImageGenerator, "_place", lambda self: (calls.append(1), place(self)))
    pixels, _ = image(model_classes, monkeypatch, SpeedOptions(channels_last=gpu_snapshot == "1"))
    assert calls == [1] and pixels.std() > 0


def test_options_of_one_kind_are_refused_on_presets_of_the_other():
    with pytest.raises(ValueError, match="image presets only"):
        replace(MUSIC_PRESETS["tiny"], speed=SpeedOptions(fuse_qkv=True))
    with pytest.raises(ValueError, match="music presets only"):
        replace(IMAGE_PRESETS["tiny"], speed=SpeedOptions(static_cache=True))
    with pytest.raises(ValueError, match="MusicGen presets only"):  # transformers' Melody can't build one
        replace(MUSIC_PRESETS["tiny-melody"], speed=SpeedOptions(static_cache=True))
    replace(MUSIC_PRESETS["tiny"], speed=SpeedOptions(static_cache=True, compile=True, cpu_bf16=True))



def test_int8_decoder_layers_stay_close_to_float32_and_the_rest_stays_float():
    """cpu_int8 quantizes what every token reads (the decoder layers' Linear weights) and keeps
    the output heads in float32; one step's logits move, but little: per-tensor int8 of these
    weights errs by well under a tenth of the logits' spread (a wrong scale or a transposed
    weight moves them by about their whole spread)."""
    import torch
    from transformers import MusicgenForConditionalGeneration

    from models.common.speed import quantize_decoder_layers
    from models.common.weights import ensure_weights

    folder = ensure_weights(MUSIC_PRESETS["tiny"].weights)
    plain, int8 = (MusicgenForConditionalGeneration.from_pretrained(folder).eval() for _ in range(2))
    quantize_decoder_layers(SpeedOptions(cpu_int8=True), int8.decoder.model.decoder.layers)
    from torch.ao.nn.quantized.dynamic import Linear as Int8Linear

    linears = [m for m in int8.decoder.model.decoder.layers.modules() if isinstance(m, (torch.nn.Linear, Int8Linear))]
    assert linears and all(isinstance(m, Int8Linear) for m in linears)
    assert all(type(head) is torch.nn.Linear for head in int8.decoder.lm_heads)

    torch.manual_seed(0)
    codebooks, vocab = int8.decoder.config.num_codebooks, int8.decoder.config.vocab_size
    inputs = {"input_ids": torch.randint(0, int8.config.text_encoder.vocab_size, (1, 5)),
              "decoder_input_ids": torch.randint(0, vocab, (codebooks, 12))}
    with torch.inference_mode():
        expected, got = plain(**inputs).logits, int8(**inputs).logits
    error = ((got - expected).abs().max() / expected.std()).item()
    assert 0 < error < 0.1


def test_music_with_int8_decoder_layers_makes_the_clip_and_says_so(model_classes, monkeypatch):
    samples, record = clip(model_classes, monkeypatch, SpeedOptions(cpu_int8=True))
    assert record["model"]["speed"] == {"int8": "decoder layers"}
    assert len(samples) == 6 * 32000 and samples.std() > 0


def test_int8_is_for_cpus_and_for_the_transformers_engine(monkeypatch):
    import models.common.speed as speed

    int8 = SpeedOptions(cpu_int8=True)
    assert speed.applied(int8) == {"int8": "decoder layers"}  # this CPU
    monkeypatch.setattr(speed, "target_device", lambda: "cuda")
    assert not speed.uses_cpu_int8(int8) and speed.applied(int8) == {}
    with pytest.raises(ValueError, match="music presets only"):
        replace(IMAGE_PRESETS["tiny"], speed=int8)
    with pytest.raises(ValueError, match="audiocraft engine applies no speed options"):
        replace(MUSIC_PRESETS["tiny-audiocraft"], speed=int8)
    with pytest.raises(ValueError, match="exclude each other"):
        replace(MUSIC_PRESETS["tiny"], speed=SpeedOptions(cpu_int8=True, cpu_bf16=True))
