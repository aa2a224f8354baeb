"""Helpers for the training tests: pictures to train on."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def pictures(count: int = 4, size: tuple[int, int] = (96, 80), seed: int = 0) -> list[bytes]:
    """`count` different PNGs: noise around the same red square, so the pictures share a subject."""
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(count):
        pixels = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
        pixels[20:60, 20:60] = [200, 40, 40]
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        made.append(buffer.getvalue())
    return made
