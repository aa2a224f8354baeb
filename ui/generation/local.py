"""LocalBackend: the app's model classes run in this process, through `.local()`.

Calls run in worker threads. A model instance takes as many calls at once as its preset
batches (`max_batch`; the instance's own batcher, models/common/batching.py, then runs compatible
ones together), and one at a time for presets that don't batch, music among them — just as
one Modal container takes `@modal.concurrent` inputs. Its first call runs alone, since it
loads the weights. Callers beyond that wait in line here (ui/generation/line.py), first come
first served, and are told their place whenever it changes. A caller who goes away is out of
the line at once; one whose call is running has it stopped through the model's Stop
(models/common/cancel.py), in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from models.common.cancel import STOPS
from models.common.errors import RequestError, WeightsUnavailable
from models.presets import Kind, get_preset
from models.requests import Job
from ui.errors import GenerationError, ModelUnavailable
from ui.generation.backend import Backend
from ui.generation.events import BackendEvent, queued_event
from ui.generation.line import Line

log = logging.getLogger("atelier.backends")


@dataclass
class _Slot:
    """One model instance, the calls inside it, and the line of callers waiting for it.

    Callers wait and enter on an event loop's thread; a call leaves from its worker thread,
    when the model is done with it (not when its caller stops listening: the result may be in
    before the thread ends, and the loop that started it may be gone by then). The line's lock
    guards `running` too: who may enter is decided with the line as it stands."""

    instance: Any
    capacity: int = 1  # calls at once, once loaded
    running: int = 0
    state: str = "not loaded"  # not loaded → loading → ready, or failed
    error: str | None = None
    line: Line = field(default_factory=Line)

    def has_room(self, ahead: int = 0) -> bool:
        """Room for one more call, and for the `ahead` callers before it in line."""
        return self.running + ahead < (self.capacity if self.state == "ready" else 1)

    async def enter(self) -> AsyncIterator[int]:
        """Wait in line for room in the model: yields this caller's place (1: next) whenever it
        changes while it waits; ends once in, its call counted in `running`. A caller cancelled
        while waiting leaves the line at once, and those behind it move up."""
        place, told = self.line.join(), None
        try:
            while True:
                with self.line.lock:
                    position = self.line.position(place)
                    if self.has_room(ahead=position - 1):  # first come, first served
                        self.running += 1
                        break
                    version = self.line.version
                if position != told:
                    told = position
                    yield position
                await self.line.changed_since(version)
        finally:
            self.line.leave(place)  # in, or gone: either way those behind move up

    def leave(self) -> None:
        with self.line.lock:
            self.running -= 1
        self.line.changed()


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

    async def events(self, job: Job, call_id: str) -> AsyncIterator[BackendEvent]:
        slot = self._slot(job.kind, job.preset)
        async with aclosing(slot.enter()) as line:
            async for position in line:
                yield queued_event(position)
        # From here the place belongs to the worker thread: it is given back when the thread
        # ends (_run), not when this generator does, so a caller who goes away can't let one
        # call too many into a model that is still busy (generate asks the model to stop).
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        future = loop.run_in_executor(self._threads, self._run, slot, job, call_id, loop, events)

        def finished(_):
            events.put_nowait(_DONE)

        future.add_done_callback(finished)
        while (event := await events.get()) is not _DONE:
            yield event
        future.result()  # re-raises the worker's error, already translated

    def stop(self, call_id: str) -> None:
        STOPS.request(call_id)  # the model runs in this process: its Stop is set at once

    def _run(self, slot: _Slot, job: Job, call_id: str, loop: asyncio.AbstractEventLoop, events: asyncio.Queue) -> None:
        """Worker thread: drive the model's event generator, handing events to the loop."""
        with self._calling(slot, job.kind, job.preset) as loaded:
            for event in slot.instance.generate.local(job, call_id):
                loaded()
                loop.call_soon_threadsafe(events.put_nowait, event)

    async def annotate(self, preset: str, image: bytes, mode: str) -> bytes:
        """Through the model's slot like a generation (its first call loads it), on a worker thread."""
        slot = self._slot("image", preset)
        async with aclosing(slot.enter()) as line:
            async for _ in line:  # its place in line: nobody is told it, a quick call
                pass
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
                slot.line.changed()

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
                {"kind": kind, "preset": preset, "state": s.state, "error": s.error, "waiting": len(s.line)}
                for (kind, preset), s in self._slots.items()
            ],
        }
