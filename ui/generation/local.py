"""LocalBackend: the app's model classes run in this process, through `.local()`.

Calls run in worker threads, one at a time per model instance (an instance is not
thread-safe, just as one Modal container handles one input at a time). Waiting callers
are told their queue position.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from models.presets import Kind
from models.requests import Job
from models.weights import WeightsUnavailable
from ui.errors import GenerationError, ModelUnavailable
from ui.generation.backend import Backend

log = logging.getLogger("atelier.backends")


@dataclass
class _Slot:
    """One model instance and the line of callers waiting for it."""

    instance: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0
    state: str = "not loaded"  # not loaded → loading → ready, or failed
    error: str | None = None


_DONE = object()


class LocalBackend(Backend):
    where = "local"

    def __init__(self, classes: Mapping[Kind, Any], defaults: Mapping[Kind, str], max_threads: int = 8):
        super().__init__(defaults)
        # Modal warns that .local() calls don't see the app's Volumes; locally that is the point.
        warnings.filterwarnings("ignore", message=".*executing locally and will not have access")
        self._classes = dict(classes)
        self._slots: dict[tuple[Kind, str], _Slot] = {}
        self._threads = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="atelier-local")

    async def generate(self, job: Job) -> AsyncIterator[dict]:
        slot = self._slot(job.kind, job.preset)
        if slot.lock.locked():
            yield {"type": "queued", "position": slot.waiting + 1}
        slot.waiting += 1
        try:
            await slot.lock.acquire()
        finally:
            slot.waiting -= 1
        # From here the lock belongs to the worker thread: it is released when the thread ends,
        # not when this generator does, so a caller who goes away can't let a second call
        # into a model that is still busy.
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        future = loop.run_in_executor(self._threads, self._run, slot, job, loop, events)

        def finished(_):
            slot.lock.release()
            events.put_nowait(_DONE)

        future.add_done_callback(finished)
        while (event := await events.get()) is not _DONE:
            yield event
        future.result()  # re-raises the worker's error, already translated

    def _run(self, slot: _Slot, job: Job, loop: asyncio.AbstractEventLoop, events: asyncio.Queue) -> None:
        """Worker thread: drive the model's event generator, handing events to the loop."""
        if slot.state != "ready":
            slot.state = "loading"  # the first .local() call runs the @modal.enter hooks
        try:
            for event in slot.instance.generate.local(job.model_dump()):
                slot.state, slot.error = "ready", None
                loop.call_soon_threadsafe(events.put_nowait, event)
        except WeightsUnavailable as e:
            self._forget(slot, job, str(e))
            raise ModelUnavailable(str(e)) from None
        except Exception as e:
            if slot.state == "loading":
                self._forget(slot, job, f"{type(e).__name__}: {e}")
            log.exception("generation failed (%s %s)", job.kind, job.preset)
            raise GenerationError(f"The {job.preset} {job.kind} model failed: {type(e).__name__}: {e}") from None

    def _forget(self, slot: _Slot, job: Job, reason: str) -> None:
        """A model that failed to load is dropped, so the next request tries afresh."""
        slot.state, slot.error = "failed", reason
        slot.instance = self._classes[job.kind](preset=job.preset)

    def _slot(self, kind: Kind, preset: str) -> _Slot:
        key = (kind, preset)
        if key not in self._slots:
            self._slots[key] = _Slot(instance=self._classes[kind](preset=preset))
        return self._slots[key]

    def health(self) -> dict:
        return {
            "backend": self.where,
            "defaults": self.defaults,
            "models": [
                {"kind": kind, "preset": preset, "state": s.state, "error": s.error, "waiting": s.waiting}
                for (kind, preset), s in self._slots.items()
            ],
        }
