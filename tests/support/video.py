"""A tiny clip for test doubles that stand in for the video model: a real MP4 (H.264, as the model
encodes it, models/video/encoding.py) and its poster, made once and small, so a double's video result
plays in a browser and passes every check the store and the studio make of a real one."""

from __future__ import annotations

from functools import cache

import numpy as np

from models.common.events import File
from models.video import encoding

SIZE, FRAMES, FPS = (32, 32), 9, 8  # 32 px: yuv420p wants even sides; 9 frames at 8 fps: LTX's 8k+1, ~1 s


@cache
def _clip() -> tuple[bytes, bytes]:
    width, height = SIZE
    # A bright square moving across a dark frame: frames that differ, as a clip's do.
    frames = np.full((FRAMES, height, width, 3), 30, dtype=np.uint8)
    for i in range(FRAMES):
        left = i * (width - 8) // (FRAMES - 1)
        frames[i, 12:20, left:left + 8] = (240, 200, 60)
    return encoding.mp4_bytes(frames, FPS, {"title": "test double"}), encoding.poster_webp(frames[FRAMES // 2])


def clip_files() -> list[File]:
    """The files of a video result, as the video model names them: the MP4 and its poster."""
    mp4, poster = _clip()
    return [{"name": "video.mp4", "mime": "video/mp4", "data": mp4},
            {"name": "poster.webp", "mime": "image/webp", "data": poster}]


def clip_seconds() -> float:
    return FRAMES / FPS
