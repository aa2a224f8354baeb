"""Helpers for the training tests: pictures to train on, and waiting for a training job to end."""

from __future__ import annotations

import asyncio
import io
import time

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


async def finished(client, job_id: str, view: str = "/api/v1/jobs", timeout_s: float = 120.0) -> dict:
    """The job as `view` shows it once it has ended (a training's own view: /api/v1/trainings)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = (await client.get(f"{view}/{job_id}")).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.5)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout_s} s")
