"""MusicGen's key/value cache (models/music/engines/musicgen_cache.py), on the tiny MusicGen's
weights through transformers itself: generate() prefills once and still samples the same codes,
and a static cache handed in is the one decoded into, giving the same codes as the growing one."""

from __future__ import annotations

import numpy as np
import pytest

from models.common.weights import ensure_weights
from models.music.engines.musicgen_cache import single_prefill, static_cache
from models.presets import MUSIC_PRESETS

STEPS = 30
PROMPT_S = 1.3  # an audio prompt that ends mid-frame, as a continuation window's may


@pytest.fixture(scope="module")
def tiny():
    """(stock model, single-prefill model, the processor's inputs with an audio prompt)"""
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    folder = ensure_weights(MUSIC_PRESETS["tiny"].weights)
    stock = MusicgenForConditionalGeneration.from_pretrained(folder).eval()
    fixed = single_prefill(MusicgenForConditionalGeneration).from_pretrained(folder).eval()
    audio = np.random.default_rng(0).standard_normal(int(PROMPT_S * 32000)).astype(np.float32) * 0.1
    inputs = AutoProcessor.from_pretrained(folder)(
        audio=[audio], text=["beat"], sampling_rate=32000, padding=True, return_tensors="pt"
    )
    return stock, fixed, inputs


def codes_and_calls(model, inputs, **extra):
    """The codes generate() hands EnCodec for seed 3, and how many times it ran the decoder."""
    import torch

    calls, codes = [], []
    counting = model.decoder.register_forward_pre_hook(lambda module, args: calls.append(1))
    decode = model.audio_encoder.decode
    model.audio_encoder.decode = lambda ids, **kw: (codes.append(ids.clone()), decode(ids, **kw))[1]
    try:
        torch.manual_seed(3)
        with torch.inference_mode():
            model.generate(**inputs, **extra, do_sample=True, top_k=250, guidance_scale=3.0, max_new_tokens=STEPS)
    finally:
        counting.remove()
        model.audio_encoder.decode = decode
    return codes[0], len(calls)


def test_generate_prefills_once_and_samples_the_same_codes(tiny):
    stock, fixed, inputs = tiny
    stock_codes, stock_calls = codes_and_calls(stock, inputs)
    codes, calls = codes_and_calls(fixed, inputs)
    assert stock_calls == STEPS + 1  # transformers 5.23 as it stands: one prefill nobody reads
    assert calls == STEPS and np.array_equal(codes, stock_codes)


def test_a_static_cache_is_decoded_into_and_samples_the_same_codes(tiny, monkeypatch):
    from transformers.cache_utils import StaticLayer

    _, fixed, inputs = tiny
    growing, _ = codes_and_calls(fixed, inputs)
    writes = []
    update = StaticLayer.update
    monkeypatch.setattr(StaticLayer, "update", lambda self, *a, **kw: (writes.append(1), update(self, *a, **kw))[1])
    opening = 1 + int(np.ceil(PROMPT_S * 32000 / 640))  # the start token and the prompt's EnCodec frames
    static, calls = codes_and_calls(fixed, inputs, past_key_values=static_cache(fixed, opening, STEPS))
    assert len(writes) == calls * fixed.decoder.config.num_hidden_layers  # every step, every layer
    assert np.array_equal(static, growing)


def test_a_static_cache_one_step_too_short_fails_loudly(tiny):
    """The window's size is computed, not guessed with room to spare: too small is an error, not
    a silently wrong clip (so the size the engine computes is checked by the clip tests)."""
    _, fixed, inputs = tiny
    opening = 1 + int(np.ceil(PROMPT_S * 32000 / 640))
    with pytest.raises((IndexError, RuntimeError)):
        codes_and_calls(fixed, inputs, past_key_values=static_cache(fixed, opening, STEPS - 1))
