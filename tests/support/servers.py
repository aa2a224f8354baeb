"""Helpers for the studio tests and bench/bench_studio.py (no tests here).

- `serving(app)`: a real uvicorn server on a free 127.0.0.1 port, in a thread of this
  process, so the backend under test is the very object the test holds.
- `FixedLatencyBackend`: a TEST DOUBLE for a backend, standing in for remote GPUs: every job
  takes the same wall time and never touches a model, so timing tests measure the web side
  (Gradio's queue, our handlers) alone. It sleeps, it does not compute: N jobs can overlap
  completely, exactly as N Modal containers would.
- `browser()`: Debian chromium driven by Playwright.
"""

from __future__ import annotations

import asyncio
import io
import re
import socket
import threading
import time
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from models.common.events import ResultEvent, progress_event, result_event
from models.requests import Job
from tests.support.video import clip_files, clip_seconds
from ui.gate.server import config
from ui.generation import Backend
from ui.generation.events import BackendEvent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


@contextmanager
def serving(app) -> Iterator[str]:
    """Run `app` with uvicorn (lifespan on: Gradio starts its queue there); yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The server `atelier serve` runs (ui/gate/server.py: request heads bounded while parsed).
    server = uvicorn.Server(config(app, "127.0.0.1", port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="studio-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


class FixedLatencyBackend(Backend):
    """TEST DOUBLE: every job takes `latency` seconds of sleeping, reported as `steps` progress
    events, then yields a tiny valid PNG, WAV or MP4 (and its poster) with a record shaped like the
    models' own."""

    where = "local"

    def __init__(self, latency: float = 1.0, steps: int = 4, charged: float = 0.0):
        super().__init__({"image": "tiny", "music": "tiny", "video": "tiny-video"})
        self.latency, self.steps = latency, steps
        self.charged = charged  # the GPU-seconds each record says its job took (what a GPU budget is charged)
        self.running = 0
        self.peak = 0  # most jobs in flight at once: what the concurrency tests check

    async def generate(self, job: Job) -> AsyncIterator[BackendEvent]:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            for done in range(self.steps):
                yield progress_event(done, self.steps, "denoising")
                await asyncio.sleep(self.latency / self.steps)
            yield progress_event(self.steps, self.steps, "denoising")
            yield _result(job, self.charged)
        finally:
            self.running -= 1

    def health(self) -> dict:
        return {"backend": "fixed-latency test double", "defaults": self.defaults, "models": []}


def _result(job: Job, charged: float = 0.0) -> ResultEvent:
    if job.kind == "training":
        record = {"kind": "training", "model": {"preset": job.preset, "weights": "fixed-latency test double",
                                                "device": "none"},
                  "parameters": job.recipe | {"trigger": job.trigger, "adapter_id": job.adapter_id},
                  "adapter": {"id": job.adapter_id, "trigger": job.trigger}, "seconds": {"load": 0.0, "generate": charged}}
        return result_event([{"name": "sample.png", "mime": "image/png", "data": _png()}], record)
    if job.kind == "image":
        files = [{"name": f"image-{i}.png", "mime": "image/png", "data": _png()} for i in range(job.num_images)]
        extra = {}
    elif job.kind == "video":
        files, extra = clip_files(), {"duration": clip_seconds()}
    else:
        files = [{"name": "music.wav", "mime": "audio/wav", "data": _wav(job.duration)}]
        extra = {"audio": {"seconds": job.duration, "sample_rate": 8000, "windows": 1}}
    record = {
        "kind": job.kind,
        "model": {"preset": job.preset, "weights": "fixed-latency test double", "device": "none"},
        "parameters": job.model_dump(exclude={"kind", "image", "mask", "controls", "references"}),  # no pictures
        "seed": job.seed,
        **extra,
        "seconds": {"load": 0.0, "generate": charged},
    }
    return result_event(files, record)


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (124, 58, 237)).save(buf, format="PNG")
    return buf.getvalue()


def _wav(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(2 * int(seconds * rate)))
    return buf.getvalue()


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():  # a failure, not a skip: `make test` installs it
        pytest.fail(f"{CHROMIUM} is missing: run `sudo apt-get install -y chromium fonts-dejavu-core` (or `make test`)", pytrace=False)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def instant_site(store_dir: Path):
    """The whole app on a zero-latency test double: (store, backend, TestClient), for tests that
    read its pages and headers rather than wait on a model."""
    from fastapi.testclient import TestClient

    from ui.store import ResultStore
    from ui.web import create_app

    store = ResultStore(store_dir)
    backend = FixedLatencyBackend(latency=0.0, steps=1)
    return store, backend, TestClient(create_app(backend, store))


def app_script(html: str) -> str:
    """Gradio's app script in the studio's HTML, checked to be preloaded at once and started
    after the first paint (ui/studio/head.py); its path."""
    preload = re.search(r'<link rel="modulepreload" crossorigin href="\./(assets/index-[^"]+\.js)"', html).group(1)
    assert f"s.src='./{preload}'" in html and f'<script type="module" crossorigin src="./{preload}"' not in html
    return preload
