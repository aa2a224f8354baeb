"""Where generation runs: in this process, on Modal from inside the app, or on a deployed app.

Every backend offers the same thing: `generate(job)` is an async stream of events
(models/progress.py) ending in a result, and never blocks the event loop.

- `LocalBackend` runs the app's model classes in-process via `.local()`, in worker threads,
  one call at a time per model instance (an instance is not thread-safe, just as one Modal
  container handles one input at a time). Waiting callers are told their queue position.
- `ModalBackend` calls the GPU classes with `remote_gen.aio`. Inside the deployed app it gets
  the app's own classes; in hybrid mode (`ModalBackend.from_deployed`) a local UI drives a
  deployed app's classes, found by name.

This module is imported by the web container: no torch, no model libraries.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from models.presets import MUSIC_CLASS_BY_ENGINE, Kind, music_class_name
from models.requests import Job, Request, RequestError
from models.weights import WeightsUnavailable

log = logging.getLogger("atelier.backends")


# --- Errors a caller can show to a person -------------------------------------------------


class GenerationError(RuntimeError):
    """A generation that failed for a reason outside the request. `status` is the HTTP status."""

    status = 502


class ModelUnavailable(GenerationError):
    """The model can't run at all right now: weights missing, Modal unreachable, ..."""

    status = 503


class GenerationTimeout(GenerationError):
    status = 504


# --- The interface ------------------------------------------------------------------------


class Backend:
    where: str  # "local", "modal" or "hybrid": shown in health reports and the UI

    def __init__(self, defaults: Mapping[Kind, str]):
        self.defaults = dict(defaults)

    def resolve(self, request: Request) -> Job:
        """Fill a request's defaults from its preset; raises RequestError with a readable message."""
        return request.resolve(self.defaults[request.kind])

    def generate(self, job: Job) -> AsyncIterator[dict]:
        """Events for one job: queued/progress..., then a result. Raises GenerationError."""
        raise NotImplementedError

    def health(self) -> dict:
        raise NotImplementedError


# --- In-process ---------------------------------------------------------------------------


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


# --- Modal --------------------------------------------------------------------------------


class ModalBackend(Backend):
    def __init__(self, classes: Mapping[Kind, Any], defaults: Mapping[Kind, str], where: str = "modal"):
        super().__init__(defaults)
        self._classes = dict(classes)
        self.where = where
        self._failures: dict[str, str] = {}

    @classmethod
    def from_deployed(cls, app_name: str, defaults: Mapping[Kind, str]) -> "ModalBackend":
        """Hybrid mode: this process serves the UI, a deployed app's GPUs do the work."""
        import modal

        image = modal.Cls.from_name(app_name, "ImageModel")
        music = {name: modal.Cls.from_name(app_name, name) for name in MUSIC_CLASS_BY_ENGINE.values()}

        def music_model(preset: str):  # as app.music_model: the class whose image has the engine
            return music[music_class_name(preset)](preset=preset)

        return cls({"image": image, "music": music_model}, defaults, where="hybrid")

    async def generate(self, job: Job) -> AsyncIterator[dict]:
        import modal.exception

        # Modal queues the call until a container is free; say so until the first event.
        yield {"type": "queued", "position": None}
        started = time.monotonic()
        instance = self._classes[job.kind](preset=job.preset)
        try:
            async for event in instance.generate.remote_gen.aio(job.model_dump()):
                yield event
            self._failures.pop(job.preset, None)
        except WeightsUnavailable as e:
            self._failures[job.preset] = str(e)
            raise ModelUnavailable(str(e)) from None
        except modal.exception.AuthError:
            raise ModelUnavailable(
                "Modal rejected the call: no valid token. Run `modal token new` or set MODAL_TOKEN_ID and "
                "MODAL_TOKEN_SECRET, or start the studio with --backend local."
            ) from None
        except modal.exception.NotFoundError:
            raise ModelUnavailable(
                "The Modal app isn't deployed (or has another name): run `modal deploy app.py` first."
            ) from None
        except (modal.exception.FunctionTimeoutError, TimeoutError):
            raise GenerationTimeout(
                f"The {job.preset} model took too long ({time.monotonic() - started:.0f} s) and was stopped."
            ) from None
        except RequestError:
            raise
        except Exception as e:
            log.exception("remote generation failed (%s %s)", job.kind, job.preset)
            raise GenerationError(f"The {job.preset} {job.kind} model failed: {type(e).__name__}: {e}") from None

    def health(self) -> dict:
        return {
            "backend": self.where,
            "defaults": self.defaults,
            "models": [
                {"preset": preset, "state": "failed", "error": error} for preset, error in self._failures.items()
            ],
        }
