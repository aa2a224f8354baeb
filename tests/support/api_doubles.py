"""Helpers for the API tests: test-double backends, a real server, webhook receivers.

The doubles replace only the model (so a test can make a generation fail, wait, or finish
instantly); everything else — request schemas, generate(), the store, the API — is real.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

from models.common.events import progress_event, result_event
from models.requests import Job

# One real-server helper for every test (uvicorn, lifespan on as in production), re-exported here.
from tests.support.servers import serving  # noqa: F401
from tests.support.video import clip_files, clip_seconds
from ui.errors import GenerationError
from ui.generation import Backend
from ui.generation.events import queued_event

TINY = {"image": "tiny", "music": "tiny", "video": "tiny-video"}


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 120, 40)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()
WAV = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00\x00}\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"


class InstantBackendDouble(Backend):
    """Test double: 'generates' at once (a fixed 8×8 PNG, an empty WAV, or a tiny real MP4 and its poster),
    through the real schemas; annotates a picture into its grey copy."""

    where = "test-double"

    def __init__(self, steps: int = 2, delay_s: float = 0.0):
        super().__init__(TINY)
        self.steps, self.delay_s = steps, delay_s
        self.calls = 0

    async def generate(self, job: Job):
        self.calls += 1
        for done in range(1, self.steps + 1):
            await asyncio.sleep(self.delay_s)
            yield progress_event(done, self.steps, "working")
        # As the models' records: no pictures in the parameters (bytes; the models keep their hashes).
        parameters = job.model_dump(exclude={"kind", "image", "mask", "controls", "references"})
        record = {"kind": job.kind, "model": {"preset": job.preset}, "parameters": parameters, "seed": job.seed}
        if job.kind == "video":
            yield result_event(clip_files(), record | {"duration": clip_seconds()})
            return
        data, name, mime = (PNG, "image-0.png", "image/png") if job.kind == "image" else (WAV, "music.wav", "audio/wav")
        yield result_event([{"name": name, "mime": mime, "data": data}], record)

    async def annotate(self, preset: str, image: bytes, mode: str) -> bytes:
        self.calls += 1
        buf = io.BytesIO()
        Image.open(io.BytesIO(image)).convert("L").save(buf, format="PNG")
        return buf.getvalue()

    def health(self) -> dict:
        return {"backend": self.where, "defaults": self.defaults, "models": []}


class FailingBackendDouble(InstantBackendDouble):
    """Test double: reports some progress, then fails the way a broken model would."""

    def __init__(self, error: Exception | None = None, steps: int = 1):
        super().__init__(steps=steps)
        self.error = error or GenerationError("The tiny image model failed: RuntimeError: test double says no")

    async def generate(self, job: Job):
        self.calls += 1
        for done in range(1, self.steps + 1):
            yield progress_event(done, self.steps + 1, "working")
        raise self.error


class GatedBackendDouble(InstantBackendDouble):
    """Test double: each generation waits in line until `admit()`, then after its first progress
    event until `release()` — so a test can see a job queued, then running."""

    def __init__(self):
        super().__init__(steps=2)
        self.admitted, self.released = asyncio.Event(), asyncio.Event()
        self.started = 0

    def admit(self) -> None:
        self.admitted.set()

    def release(self) -> None:
        self.admitted.set()
        self.released.set()

    async def generate(self, job: Job):
        self.calls += 1
        if not self.admitted.is_set():
            yield queued_event(1)
            await self.admitted.wait()
        yield progress_event(1, 2, "working")
        self.started += 1
        await self.released.wait()
        async for event in super().generate(job):
            if event["type"] == "result":
                yield event


# --- a webhook receiver ------------------------------------------------------------------------


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records each POST and answers with the next scripted status."""

    def __init__(self, statuses: list[int] | None = None):
        self.statuses = list(statuses or [])
        self.received: list[dict] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append({"headers": dict(self.headers), "body": body, "path": self.path, "at": time.monotonic()})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if 200 <= status < 300:
                    receiver.arrived.set()

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?source=atelier"
        self._thread = threading.Thread(target=self.server.serve_forever, name="test-webhook-receiver", daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.received]


class TricklingReceiver:
    """A webhook receiver that answers 200 one byte at a time, each well within a read timeout,
    the whole answer taking `seconds`: no per-read timeout ever ends such an attempt. Records,
    per connection, whether it got to send the whole answer."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Padding: " + b"." * 40 + b"\r\n\r\n"

    def __init__(self, seconds: float = 12.0):
        self.pause = seconds / len(self.ANSWER)
        self.finished: list[bool] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self._thread = threading.Thread(target=self._serve, name="test-trickling-receiver", daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)  # the request (small: it arrives in one piece)
            try:
                for byte in self.ANSWER:
                    connection.sendall(bytes([byte]))
                    time.sleep(self.pause)
                self.finished.append(True)
            except OSError:  # the sender hung up
                self.finished.append(False)

    def __enter__(self) -> TricklingReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.listener.close()
