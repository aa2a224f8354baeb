"""Audio helpers every music engine shares: long clips in windows, and encoding.

A music model makes at most one window (30 s for MusicGen) per pass. Longer clips are made
as in audiocraft and Modal's MusicGen example: generate the first window, then repeatedly
continue from the last `overlap` seconds and keep only what is new.
"""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.common.progress import Report, throttled
from models.music.waveform import MIME as MIME_PNG
from models.music.waveform import waveform_png


@dataclass(frozen=True)
class Window:
    context_s: float  # seconds of the clip so far fed back as the prompt (0 for the first)
    new_s: float  # seconds of new audio this pass adds


def plan_windows(duration: float, window: float, overlap: float) -> list[Window]:
    """Split `duration` seconds into passes of at most `window` seconds each, context included."""
    if not 0 <= overlap < window:
        raise ValueError(f"overlap ({overlap}) must be at least 0 and shorter than the window ({window})")
    plan = [Window(0.0, min(duration, window))]
    made = plan[0].new_s
    while made < duration - 1e-9:
        new = min(window - overlap, duration - made)
        plan.append(Window(overlap, new))
        made += new
    return plan


@dataclass(frozen=True)
class Pass:
    """What one call of an engine's window generator is asked for."""

    prompt: np.ndarray | None  # the clip's last `context_s` seconds to continue, or None for the first pass
    new_s: float  # seconds of new audio to make
    start_s: float  # where this pass's audio (prompt included) starts in the clip: melodies line up by it


# (pass, report) -> only the new audio, float32 mono
GenerateWindow = Callable[[Pass, Report], np.ndarray]


def generate_long(
    generate_window: GenerateWindow, duration: float, window: float, overlap: float, sample_rate: int, report: Report
) -> np.ndarray:
    """Make `duration` seconds of mono audio with an engine's one-window generator.

    Progress is reported in seconds of audio made across all windows, so a caller sees one
    bar moving from 0 to `duration`, not one per window. Between windows, the progress event
    carries a preview: a picture of the waveform made so far (models/music/waveform.py).
    """
    pieces: list[np.ndarray] = []
    made_s = 0.0
    steps = throttled(report)  # a few updates a second, not one per token
    for w in plan_windows(duration, window, overlap):
        prompt = None
        if w.context_s:
            clip = np.concatenate(pieces)
            prompt = clip[-int(round(w.context_s * sample_rate)) :]

        def report_window(done: int, total: int, stage: str, _base: float = made_s, _new: float = w.new_s) -> None:
            steps(math.floor((_base + _new * done / max(total, 1)) * 1000), int(duration * 1000), stage)

        piece = generate_window(Pass(prompt, w.new_s, made_s - w.context_s), report_window)
        pieces.append(piece[: int(round(w.new_s * sample_rate))])
        made_s += w.new_s
        if made_s < duration - 1e-9:  # more windows to come: show what exists so far
            picture = waveform_png(np.concatenate(pieces), duration, sample_rate)
            report(math.floor(made_s * 1000), int(duration * 1000), "composing", preview={"mime": MIME_PNG, "data": picture})
    return np.concatenate(pieces)[: int(round(duration * sample_rate))]


# --- encoding ----------------------------------------------------------------------------

MIME = {"wav": "audio/wav", "mp3": "audio/mpeg"}


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio to 16-bit PCM. Louder than full scale (random weights can be) is scaled down."""
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float32))
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1.0:
        audio = audio / peak
    return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


def encode(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    pcm = to_pcm16(audio)
    if fmt == "wav":
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(pcm.tobytes())
        return buf.getvalue()
    if fmt == "mp3":
        import lameenc

        encoder = lameenc.Encoder()
        encoder.set_bit_rate(192)
        encoder.set_in_sample_rate(sample_rate)
        encoder.set_channels(1)
        encoder.set_quality(2)
        return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())
    raise ValueError(f"unknown audio format {fmt!r}")
