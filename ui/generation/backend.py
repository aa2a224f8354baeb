"""Where generation runs, as one interface: the studio, the API, jobs and the CLI call only this.

Every backend offers the same thing: `generate(job)` is an async stream of events (the
model's, models/common/events.py, after a `queued` one while it waits: ui/generation/events.py)
ending in a result, and never blocks the event loop; `annotate` is the image model's quick side
call, a guide's control picture (the model serialises it with its generations).

    local.py    LocalBackend: the app's model classes in this process (.local())
    remote.py   ModalBackend: the GPU classes on Modal, from inside the app or (hybrid)
                from a local UI driving a deployed app

Imported by the web container: no torch, no model libraries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from models.presets import Kind
from models.requests import Job, Request
from ui.generation.events import BackendEvent


class Backend:
    where: str  # "local", "modal" or "hybrid": shown in health reports and the UI

    def __init__(self, defaults: Mapping[Kind, str]):
        self.defaults = dict(defaults)

    def resolve(self, request: Request) -> Job:
        """Fill a request's defaults from its preset; raises RequestError with a readable message."""
        return request.resolve(self.defaults[request.kind])

    def generate(self, job: Job) -> AsyncIterator[BackendEvent]:
        """Events for one job: queued/progress..., then a result. Raises GenerationError."""
        raise NotImplementedError

    async def annotate(self, preset: str, image: bytes, mode: str) -> bytes:
        """The control picture (PNG) the image preset's `mode` annotator makes from a picture, by its
        model (ImageGenerator.annotate). Raises RequestError, GenerationError, ModelUnavailable."""
        raise NotImplementedError

    def health(self) -> dict:
        raise NotImplementedError
