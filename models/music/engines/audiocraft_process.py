"""The audiocraft engine in a worker process, for a process that can't import audiocraft.

audiocraft pins torch 2.1; the main environment has torch 2.13. Locally, audiocraft lives
in its own venv (`make audiocraft-env` → .venv-audiocraft), and a MusicGenerator serving an
audiocraft preset in the main environment starts one worker there:

    parent (main env)                              worker (.venv-audiocraft)
    AudiocraftProcess.load() ── spawns ──────────▶ python -m models.music.engines.audiocraft_worker PRESET
                             ◀─ {"type": "ready"}   AudiocraftEngine: load(), to_device()
    events(job) ─ {"n": 1, "job": {...}} ────────▶ engine.events(job)
                ◀─ progress..., result (files as base64), or {"type": "error"}
    stop set    ─ {"n": 1, "cancel": true} ──────▶ job 1 stops at its next decoding step
                ◀─ {"type": "error", "error": "Cancelled"}

One JSON object a line over the worker's stdin/stdout (audiocraft_protocol.py declares the
messages); its stderr is the parent's, so its logs show where the parent's do. Like a Modal
container, a worker loads once and runs one job at a time; it exits when the parent closes
its stdin (or dies). On Modal the audiocraft image imports audiocraft in-process and none of
this runs.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from models.common.cancel import Stop
from models.common.errors import Cancelled, EngineUnavailable, RequestError, WeightsUnavailable, WorkerError
from models.common.events import ModelEvent
from models.music.engines.audiocraft_protocol import Failed, cancel_line, event_from_line, job_line
from models.music.engines.base import Engine
from models.music.request import MusicJob

ROOT = Path(__file__).resolve().parents[3]  # the folder holding the `models` package
DEFAULT_VENV_PYTHON = ROOT / ".venv-audiocraft" / "bin" / "python"


def interpreter() -> Path:
    """The Python that has audiocraft: ATELIER_AUDIOCRAFT_PYTHON, else .venv-audiocraft's."""
    configured = os.environ.get("ATELIER_AUDIOCRAFT_PYTHON")
    python = Path(configured) if configured else DEFAULT_VENV_PYTHON
    # `make audiocraft-env` writes the venv's requirements.txt last: without it, the build didn't finish.
    if not python.exists() or not (configured or (python.parent.parent / "requirements.txt").exists()):
        where = f"ATELIER_AUDIOCRAFT_PYTHON ({configured})" if configured else str(DEFAULT_VENV_PYTHON)
        raise EngineUnavailable(
            f"The audiocraft engine isn't installed here: {where} does not exist. "
            "Run `make audiocraft-env` (a separate Python 3.11 venv with audiocraft and torch 2.1, about 6 GB), "
            "or choose a transformers preset."
        )
    return python


class AudiocraftProcess(Engine):
    """The parent's side: an Engine whose work happens in the worker."""

    def load(self) -> None:
        self._jobs = itertools.count(1)
        self._sending = threading.Lock()
        self.proc = subprocess.Popen(
            [str(interpreter()), "-m", "models.music.engines.audiocraft_worker", self.spec.name],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        ready = self._receive(job=0)
        self.sample_rate, self.device, self.load_seconds = ready["sample_rate"], ready["device"], ready["load_seconds"]
        self.has_diffusion_decoder = ready["diffusion_decoder"]

    def to_device(self, device: str) -> None:
        """Nothing to do: the worker put its model on its own device when it started."""

    def events(self, job: MusicJob, stop: Stop | None = None) -> Iterator[ModelEvent]:
        n = next(self._jobs)
        self._send(job_line(n, job.model_dump(mode="json")))
        if stop is not None:  # the worker stops the job at its next step, and answers with an error
            stop.on_set(lambda: self._send(cancel_line(n)))
        while True:
            event = event_from_line(self._receive(job=n))
            yield event
            if event["type"] == "result":
                return

    def _send(self, message: dict) -> None:
        """One line to the worker (from the job's thread, or a canceller's: one at a time)."""
        with self._sending:
            try:
                self.proc.stdin.write(json.dumps(message) + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):  # the worker is gone (its stdout says so), or closed
                pass

    def close(self) -> None:
        """Let the worker go: it exits when its stdin closes."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def _receive(self, job: int) -> dict:
        """The next message about `job`. Messages about an earlier job (whose caller stopped
        reading before its result) are skipped."""
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise WorkerError(
                    f"The audiocraft worker for {self.spec.name} stopped (exit code {self.proc.wait()}); "
                    "its error is in the log above."
                )
            message = json.loads(line)
            if message.pop("n", job) != job:
                continue
            if message["type"] == "error":
                raise _rebuild(message)
            return message


def _rebuild(message: Failed) -> Exception:
    """The worker's exception as the parent's callers expect it: request errors stay 4xx,
    missing weights stay 503, the rest is a failure of the model."""
    text = message["message"]
    if message["error"] == "RequestError":
        return RequestError(text)
    if message["error"] in ("WeightsUnavailable", "EngineUnavailable"):
        return WeightsUnavailable(text)
    if message["error"] == "Cancelled":
        return Cancelled(text)
    return WorkerError(f"{message['error']}: {text}")
