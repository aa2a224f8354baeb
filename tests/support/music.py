"""Helpers for the music tests: audio files made in code, and where the audiocraft venv is."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from models.common.errors import EngineUnavailable
from models.music.engines.audiocraft_process import interpreter


def tone(seconds: float = 2.0, rate: int = 16000, freq: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = 16000, width: int = 2, channels: int = 1) -> bytes:
    """A PCM WAV written with the standard library (8-, 16-, 24- or 32-bit)."""
    frames = np.repeat(np.asarray(samples, dtype=np.float64)[:, None], channels, axis=1).reshape(-1)
    if width == 1:
        data = (np.clip(frames, -1, 1) * 127 + 128).astype(np.uint8).tobytes()
    elif width == 3:
        ints = (np.clip(frames, -1, 1) * (2**23 - 1)).astype("<i4")
        data = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    else:
        data = (np.clip(frames, -1, 1) * (2 ** (8 * width - 1) - 1)).astype(f"<i{width}").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return buf.getvalue()


def require_audiocraft_venv() -> None:
    """Fail, naming the command, where the audiocraft venv isn't built: the suite never tests
    less in silence (`make test` builds it first)."""
    try:
        interpreter()
    except EngineUnavailable as e:
        pytest.fail(f"run `make audiocraft-env` first: {e}", pytrace=False)
