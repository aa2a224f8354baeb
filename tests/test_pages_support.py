"""Helpers shared by the share-page tests (no tests here; named to sit with the files they serve).

`stand_in_result` is a test double for a model's result event: the same record shape the
models write (built from the same job schemas), made in microseconds, so tests can fill a
store with many results. Tests about what real models write use the tiny models instead.
"""

from __future__ import annotations

import io
import wave
from html.parser import HTMLParser

import numpy as np
from PIL import Image

from starlette.routing import Mount

from models.requests import ImageJob, MusicJob


def stand_in_result(kind: str = "image", prompt: str = "a lighthouse at dusk", seed: int = 1, fmt: str = "wav") -> dict:
    """A result event as models/image.py and models/music.py make them (a test double)."""
    if kind == "image":
        job = ImageJob(prompt=prompt, preset="tiny", width=64, height=64, steps=2, guidance=0.0, seed=seed, num_images=1)
        files = [{"name": "image-0.png", "mime": "image/png", "data": png_bytes(seed)}]
        extra = {}
    else:
        job = MusicJob(
            prompt=prompt, preset="tiny", duration=2.0, format=fmt, seed=seed,
            temperature=1.0, top_k=250, guidance=3.0, window=4.0, overlap=0.67,
        )  # fmt: skip
        data = wav_bytes(np.sin(np.linspace(0, 400, 64_000)) * np.linspace(0, 1, 64_000)) if fmt == "wav" else b"\xff\xfb" + bytes(400)
        files = [{"name": f"music.{fmt}", "mime": "audio/wav" if fmt == "wav" else "audio/mpeg", "data": data}]
        extra = {"audio": {"seconds": 2.0, "sample_rate": 32000, "windows": 1}}
    record = {
        "kind": kind,
        "model": {"preset": "tiny", "weights": "stand-in", "device": "cpu"},
        "parameters": job.model_dump(exclude={"kind"}),
        "seed": seed,
        **extra,
        "seconds": {"load": 0.1, "generate": 0.25},
    }
    return {"type": "result", "files": files, "record": record}


def with_studio_at_root(app):
    """The studio mounts Gradio at "/" last. Until create_app does, mount a trivial one the same way."""
    if not any(isinstance(r, Mount) and r.path == "" for r in app.routes):
        import gradio as gr

        with gr.Blocks() as blocks:
            gr.Markdown("studio stand-in")
        app = gr.mount_gradio_app(app, blocks, path="/")
    return app


def png_bytes(seed: int, size: int = 64) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def wav_bytes(samples: np.ndarray, rate: int = 32000, channels: int = 1) -> bytes:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


class Page(HTMLParser):
    """An HTML page as elements: (tag, attrs, text directly inside), in document order."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self._open: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in ("meta", "link", "img", "input", "br", "source"):
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def find(self, tag: str, **attrs) -> list[dict]:
        return [
            e for e in self.elements
            if e["tag"] == tag and all(e["attrs"].get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]  # fmt: skip

    def meta(self, key: str) -> list[str]:
        """Contents of <meta property=key> or <meta name=key>."""
        return [
            e["attrs"].get("content")
            for e in self.elements
            if e["tag"] == "meta" and key in (e["attrs"].get("property"), e["attrs"].get("name"))
        ]

    def by_class(self, cls: str) -> list[dict]:
        return [e for e in self.elements if cls in (e["attrs"].get("class") or "").split()]
