"""Where generation runs, as one interface: the studio, the API, jobs and the CLI call only this.

Every backend offers the same thing: `generate(job)` is an async stream of events (the
model's, models/common/events.py, after `queued` ones while it waits, each with the caller's
place in line: ui/generation/events.py) ending in a result, and never blocks the event loop;
`annotate` is the image model's quick side call, a guide's control picture (the model serialises
it with its generations).

A caller who goes away stops the work: each call has an id the model watches
(models/common/cancel.py), and when its stream is cancelled or closed before the model has
finished (a Stop button, a closed tab, a client that hung up, a cancelled job), `generate` asks
the model to stop that call. A request still in line leaves it at once; one at work stops at its
next step; the rest of a batch goes on.

    local.py    LocalBackend: the app's model classes in this process (.local())
    remote.py   ModalBackend: the GPU classes on Modal, from inside the app or (hybrid)
                from a local UI driving a deployed app

Imported by the web container: no torch, no model libraries.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing

from models.presets import Kind
from models.requests import Job, Request
from ui.generation.blocklist import refuse_blocked
from ui.generation.events import BackendEvent
from ui.settings import ModerationSettings


class Backend:
    where: str  # "local", "modal" or "hybrid": shown in health reports and the UI

    def __init__(self, defaults: Mapping[Kind, str]):
        self.defaults = dict(defaults)
        self.blocklist = ModerationSettings.from_env().prompt_blocklist

    def resolve(self, request: Request) -> Job:
        """Fill a request's defaults from its preset; raises RequestError with a readable message,
        for a prompt the blocklist refuses too (ui/generation/blocklist.py)."""
        refuse_blocked(getattr(request, "prompt", ""), self.blocklist)
        return request.resolve(self.defaults[request.kind])

    async def generate(self, job: Job) -> AsyncIterator[BackendEvent]:
        """Events for one job: queued/progress..., then a result. Raises GenerationError. If the
        caller stops listening before the result, the model is asked to stop the call."""
        call_id = secrets.token_urlsafe(12)
        ended = False  # the model has finished the call itself: a result, or a failure
        try:
            async with aclosing(self.events(job, call_id)) as events:
                async for event in events:
                    ended = event["type"] == "result"
                    yield event
            ended = True
        except Exception:
            ended = True
            raise
        finally:
            if not ended:  # cancelled, or closed: the caller has gone
                self.stop(call_id)

    def events(self, job: Job, call_id: str) -> AsyncIterator[BackendEvent]:
        """What `generate` streams: the model's events for the call `call_id`."""
        raise NotImplementedError

    def stop(self, call_id: str) -> None:
        """Ask the model to stop the call `call_id`; returns at once."""
        raise NotImplementedError

    async def annotate(self, preset: str, image: bytes, mode: str) -> bytes:
        """The control picture (PNG) the image preset's `mode` annotator makes from a picture, by its
        model (ImageGenerator.annotate). Raises RequestError, GenerationError, ModelUnavailable."""
        raise NotImplementedError

    def health(self) -> dict:
        raise NotImplementedError
