"""ModalBackend: the GPU classes on Modal, called with `remote_gen.aio`.

Inside the deployed app it gets the app's own classes; in hybrid mode
(`ModalBackend.from_deployed`) a local UI drives a deployed app's classes, found by name.

While Modal holds a call for a free container, the caller is told its place among this web
container's calls waiting for that model (ui/generation/line.py). A caller who goes away has its
call's stop flag written to the deployment's modal.Dict, which the GPU container running it reads
(models/common/cancel.py says why Modal's own cancellation can't do this).
`modal` is imported inside the methods: a local studio that never calls Modal doesn't pay
for importing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing
from typing import Any

from models.common.cancel import flags_name
from models.common.errors import RequestError, WeightsUnavailable
from models.image import loras
from models.presets import (
    IMAGE_CLASS_BY_GPU,
    MUSIC_CLASS_BY_ENGINE,
    VIDEO_CLASS_BY_GPU,
    Kind,
    image_class_name,
    music_class_name,
    video_class_name,
)
from models.requests import Job
from ui.errors import GenerationError, GenerationTimeout, ModelUnavailable
from ui.generation.backend import Backend
from ui.generation.events import BackendEvent, queued_event
from ui.generation.line import Line

log = logging.getLogger("atelier.backends")


class ModalBackend(Backend):
    def __init__(self, classes: Mapping[Kind, Any], defaults: Mapping[Kind, str], where: str = "modal",
                 flags: Any = None):
        """`flags`: the deployment's modal.Dict of stop flags (models/common/cancel.py), which its
        GPU containers read; without it a call whose caller went away runs to its end."""
        super().__init__(defaults)
        self._classes = dict(classes)
        self.where = where
        self.flags = flags
        self._failures: dict[str, str] = {}
        self._lines: dict[tuple[Kind, str], Line] = {}  # this container's calls waiting for each model
        self._stopping: set[asyncio.Task] = set()  # strong references: the loop keeps weak ones

    @classmethod
    def from_deployed(cls, app_name: str, defaults: Mapping[Kind, str]) -> "ModalBackend":
        """Hybrid mode: this process serves the UI, a deployed app's GPUs do the work."""
        import modal

        image = {name: modal.Cls.from_name(app_name, name) for name in IMAGE_CLASS_BY_GPU.values()}
        music = {name: modal.Cls.from_name(app_name, name) for name in MUSIC_CLASS_BY_ENGINE.values()}
        video = {name: modal.Cls.from_name(app_name, name) for name in VIDEO_CLASS_BY_GPU.values()}

        def image_model(preset: str):  # as app.image_model: the class whose GPU has the memory
            return image[image_class_name(preset)](preset=preset)

        def music_model(preset: str):  # as app.music_model: the class whose image has the engine
            return music[music_class_name(preset)](preset=preset)

        def video_model(preset: str):  # as app.video_model
            return video[video_class_name(preset)](preset=preset)

        # Requests are checked against the library the GPUs will load adapters from: the app's Volume.
        loras.set_remote_listing(deployed_lora_listing(modal.Function.from_name(app_name, "list_loras")))
        flags = modal.Dict.from_name(flags_name(app_name))  # the deployed app's (app.py creates it)
        return cls({"image": image_model, "music": music_model, "video": video_model}, defaults, where="hybrid",
                   flags=flags)

    async def events(self, job: Job, call_id: str) -> AsyncIterator[BackendEvent]:
        instance = self._classes[job.kind](preset=job.preset)
        line = self._lines.setdefault((job.kind, job.preset), Line())
        with self._calling(job.kind, job.preset):
            # The job itself: Modal pickles arguments, and the GPU images ship models/, its class's home.
            async with aclosing(instance.generate.remote_gen.aio(job, call_id)) as remote:
                async with aclosing(_queued_until_started(remote, line)) as first:
                    async for event in first:
                        yield event
                async for event in remote:
                    yield event

    async def annotate(self, preset: str, image: bytes, mode: str) -> bytes:
        with self._calling("image", preset):
            return await self._classes["image"](preset=preset).annotate.remote.aio(image, mode)

    @contextlib.contextmanager
    def _calling(self, kind: Kind, preset: str) -> Iterator[None]:
        """One call into a GPU class, its errors translated into what a caller may see."""
        import modal.exception

        started = time.monotonic()
        try:
            yield
            self._failures.pop(preset, None)
        except WeightsUnavailable as e:
            self._failures[preset] = str(e)
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
                f"The {preset} model took too long ({time.monotonic() - started:.0f} s) and was stopped."
            ) from None
        except RequestError:
            raise
        except Exception as e:
            log.exception("remote generation failed (%s %s)", kind, preset)
            raise GenerationError(f"The {preset} {kind} model failed: {type(e).__name__}: {e}") from None

    def stop(self, call_id: str) -> None:
        """Write the call's flag, which its GPU container reads within POLL_S (in a task: the
        caller has gone, and nothing waits for this)."""
        if self.flags is None:
            log.warning("call %s can't be stopped: this backend has no stop flags", call_id)
            return
        task = asyncio.get_running_loop().create_task(self._put_flag(call_id))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _put_flag(self, call_id: str) -> None:
        try:
            await self.flags.put.aio(call_id, time.time())
        except Exception as e:  # the call then runs to its end; nothing else is lost
            log.warning("the stop flag of call %s could not be written: %s: %s", call_id, type(e).__name__, e)

    def health(self) -> dict:
        return {
            "backend": self.where,
            "defaults": self.defaults,
            "models": [
                {"preset": preset, "state": "failed", "error": error} for preset, error in self._failures.items()
            ],
        }


async def _queued_until_started(remote: AsyncIterator[BackendEvent], line: Line) -> AsyncIterator[BackendEvent]:
    """While Modal holds the call for a free container: `queued` events with its place among this
    container's calls waiting for that model (when it changes); then the model's first event."""
    place, told = line.join(), None
    first = asyncio.ensure_future(anext(remote, None))
    try:
        while not first.done():
            with line.lock:
                position, version = line.position(place), line.version
            if position != told:
                told = position
                yield queued_event(position)
            moved = asyncio.ensure_future(line.changed_since(version))
            await asyncio.wait({first, moved}, return_when=asyncio.FIRST_COMPLETED)
            moved.cancel()
    finally:
        line.leave(place)
        if not first.done():  # the caller went away: let the read end before the stream is closed
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
    if (event := first.result()) is not None:
        yield event


LORA_LISTING_S = 30.0  # how long a hybrid studio reuses the deployed app's LoRA listing


def deployed_lora_listing(function, every_s: float = LORA_LISTING_S) -> Callable[[], list[dict]]:
    """The deployed app's `list_loras`, asked at most once per `every_s`. When it can't be asked
    (an app deployed before it existed, Modal unreachable) the library reads as empty, with a log
    line: a request naming an adapter then gets "unknown adapter" (a 4xx), and the studio still builds."""
    lock, cached = threading.Lock(), {"at": -every_s, "listing": []}

    def listing() -> list[dict]:
        with lock:
            if time.monotonic() - cached["at"] >= every_s:
                try:
                    cached["listing"] = function.remote()
                except Exception as e:
                    log.warning("the deployed app's LoRA library can't be read: %s: %s", type(e).__name__, e)
                    cached["listing"] = []
                cached["at"] = time.monotonic()
            return cached["listing"]

    return listing
