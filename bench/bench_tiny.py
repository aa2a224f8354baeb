"""Tiny-preset generation times through the local backend's path (`.local()`), on this machine.

    .venv/bin/python bench/bench_tiny.py

Prints load and generation seconds, and music's real-time factor (seconds of compute per
second of audio) for one window and for a clip that takes several windows: the ratio shows
what the windowed continuation costs beyond the audio it adds.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ATELIER_HOME", tempfile.mkdtemp(prefix="atelier-bench-"))

from app import ImageModel, MusicModel  # noqa: E402
from models.requests import ImageRequest, MusicRequest  # noqa: E402


def timed(model, request, repeats: int) -> tuple[float, dict]:
    job = request.resolve("tiny")
    times, record = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        *_, result = model.generate.local(job)
        times.append(time.perf_counter() - started)
        record = result["record"]
    return statistics.median(times), record


def main() -> None:
    started = time.perf_counter()
    image, music = ImageModel(preset="tiny"), MusicModel(preset="tiny")
    first_image, _ = timed(image, ImageRequest(prompt="fox", seed=1), 1)
    first_music, _ = timed(music, MusicRequest(prompt="beat", duration=1, seed=1), 1)
    print(f"first calls (build + load + generate): image {first_image:.2f} s, music {first_music:.2f} s, "
          f"total {time.perf_counter() - started:.2f} s")

    rows = [
        ("image 64x64, 2 steps", image, ImageRequest(prompt="fox", seed=1), None),
        ("image 64x64, 2 steps, 4 images", image, ImageRequest(prompt="fox", seed=1, num_images=4), None),
        ("music 4 s (one window)", music, MusicRequest(prompt="beat", duration=4, seed=1), 4),
        ("music 12 s (4 windows)", music, MusicRequest(prompt="beat", duration=12, seed=1, overlap=1), 12),
        ("music 12 s mp3", music, MusicRequest(prompt="beat", duration=12, seed=1, overlap=1, format="mp3"), 12),
    ]
    print(f"\n{'what':<34}{'median s':>10}{'s per audio s':>15}")
    for name, model, request, audio_s in rows:
        seconds, _ = timed(model, request, 3)
        rtf = f"{seconds / audio_s:.3f}" if audio_s else ""
        print(f"{name:<34}{seconds:>10.3f}{rtf:>15}")


if __name__ == "__main__":
    main()
