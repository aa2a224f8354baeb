"""LocalBackend: the app's model classes run in this process, through `.local()`.

Calls run in worker threads. A model instance takes as many calls at once as its preset
batches (`max_batch`; the instance's own batcher, models/common/batching.py, then runs compatible
ones together), and one at a time for presets that don't batch, music among them — just as
one Modal container takes `@modal.concurrent` inputs. Its first call runs alone, since it
loads the weights. Callers beyond that wait here and are told their place in the line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from models.common.errors import RequestError, WeightsUnavailable
from models.presets import Kind, get_preset
from models.requests import Job
from ui.errors import GenerationError, ModelUnavailable
from ui.generation.backend import Backend
from ui.generation.events import BackendEvent, queued_event

log = logging.getLogger("atelier.backends")


@dataclass
class _Slot:
    """One model instance, the calls inside it, and the line of callers waiting for it.

    Callers wait and enter on an event loop's thread; a call leaves from its worker thread,
    when the model is done with it (not when its caller stops listening: the result may be in
    before the thread ends, and the loop that started it may be gone by then)."""

    instance: Any
    capacity: int = 1  # calls at once, once loaded
    running: int = 0
    waiting: int = 0
    state: str = "not loaded"  # not loaded → loading → ready, or failed
    error: str | None = None
    # The waiting callers' futures, each on its own loop (not an asyncio.Event, which binds to
    # the first loop that waits on it: the CLI and tests run a loop per call).
    wakeups: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def has_room(self) -> bool:
        return self.running < (self.capacity if self.state == "ready" else 1)

    async def enter(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self.lock:
                if self.has_room():
                    self.running += 1
                    return
                wakeup = loop.create_future()
                self.wakeups.append((loop, wakeup))
            await wakeup

    def leave(self) -> None:
        with self.lock:
            self.running -= 1
        self.changed()

    def changed(self) -> None:
        """Room may have opened: every waiter looks again (those who don't fit wait anew)."""
        with self.lock:
            wakeups, self.wakeups = self.wakeups, []
        for loop, wakeup in wakeups:
            try:
                loop.call_soon_threadsafe(_wake, wakeup)
            except RuntimeError:  # that caller's loop has closed: nobody is waiting there
                pass


def _wake(wakeup: asyncio.Future) -> None:
    if not wakeup.done():  # a caller who gave up has a cancelled future
        wakeup.set_result(None)


_DONE = object()


class LocalBackend(Backend):
    where = "local"

    def __init__(self, classes: Mapping[Kind, Any], defaults: Mapping[Kind, str], max_threads: int = 32):
        super().__init__(defaults)
        # Modal warns that .local() calls don't see the app's Volumes; locally that is the point.
        warnings.filterwarnings("ignore", message=".*executing locally and will not have access")
        self._classes = dict(classes)
        self._slots: dict[tuple[Kind, str], _Slot] = {}
        self._threads = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="atelier-local")

    async def generate(self, job: Job) -> AsyncIterator[BackendEvent]:
        slot = self._slot(job.kind, job.preset)
        if not slot.has_room():
            yield queued_event(slot.waiting + 1)
        slot.waiting += 1
        try:
            await slot.enter()
        finally:
            slot.waiting -= 1
        # From here the place belongs to the worker thread: it is given back when the thread
        # ends (_run), not when this generator does, so a caller who goes away can't let one
        # call too many into a model that is still busy.
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        future = loop.run_in_executor(self._threads, self._run, slot, job, loop, events)

        def finished(_):
            events.put_nowait(_DONE)

        future.add_done_callback(finished)
        while (event := await events.get()) is not _DONE:
            yield event
        future.result()  # re-raises the worker's error, already translated

    def _run(self, slot: _Slot, job: Job, loop: asyncio.AbstractEventLoop, events: asyncio.Queue) -> None:
        """Worker thread: drive the model's event generator, handing events to the loop."""
        with self._calling(slot, job.kind, job.preset) as loaded:
            for event in slot.instance.generate.local(job):
                loaded()
                loop.call_soon_threadsafe(events.put_nowait, event)

    async def annotate(self, preset: str, image: bytes, mode: str) -> bytes:
        """Through the model's slot like a generation (its first call loads it), on a worker thread."""
        slot = self._slot("image", preset)
        await slot.enter()
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._annotate, slot, preset, image, mode)

    def _annotate(self, slot: _Slot, preset: str, image: bytes, mode: str) -> bytes:
        with self._calling(slot, "image", preset):
            return slot.instance.annotate.local(image, mode)

    @contextlib.contextmanager
    def _calling(self, slot: _Slot, kind: Kind, preset: str) -> Iterator[Callable[[], None]]:
        """Worker thread: one call into the slot's model. Keeps the slot's state (the first .local() call
        runs the @modal.enter hooks: `loaded()` once it has, or at the end), translates its errors, and
        gives its place back when it ends."""
        loading = slot.state != "ready"
        if loading:
            slot.state = "loading"

        def loaded() -> None:
            nonlocal loading
            if loading:  # loaded: let the callers waiting for room in
                loading = False
                slot.state, slot.error = "ready", None
                slot.changed()

        try:
            yield loaded
            loaded()
        except WeightsUnavailable as e:
            self._forget(slot, kind, preset, str(e))
            raise ModelUnavailable(str(e)) from None
        except RequestError:  # the model's own check of the request (a 4xx), as ModalBackend passes it on
            raise
        except Exception as e:
            if loading:
                self._forget(slot, kind, preset, f"{type(e).__name__}: {e}")
            log.exception("generation failed (%s %s)", kind, preset)
            raise GenerationError(f"The {preset} {kind} model failed: {type(e).__name__}: {e}") from None
        finally:
            slot.leave()

    def _forget(self, slot: _Slot, kind: Kind, preset: str, reason: str) -> None:
        """A model that failed to load is dropped, so the next request tries afresh."""
        slot.state, slot.error = "failed", reason
        slot.instance = self._classes[kind](preset=preset)

    def _slot(self, kind: Kind, preset: str) -> _Slot:
        key = (kind, preset)
        if key not in self._slots:
            capacity = getattr(get_preset(kind, preset), "max_batch", 1)  # music presets don't batch
            self._slots[key] = _Slot(instance=self._classes[kind](preset=preset), capacity=capacity)
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
