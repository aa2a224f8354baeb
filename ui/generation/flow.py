"""The one path every generation takes: backend → result store → caller.

The studio, the REST API and the pages all call `generate`, so every result from any of
them is saved the same way, and every caller sees the same events (ui/generation/events.py).
Nothing generates without a ticket from the gate (ui/gate/), so no way in escapes its limits:

    {"type": "queued", "position": 2}                       (waiting for a model)
    {"type": "progress", "done": 3, "total": 8, "stage": "denoising"}
    {"type": "saved", "record": {...}, "owner_token": "..."} (the last event)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from models.requests import Job
from ui.errors import GenerationError
from ui.gate import Ticket
from ui.generation.backend import Backend
from ui.generation.events import FlowEvent, saved_event
from ui.generation.pictures import shelf
from ui.store import ResultStore


async def generate(backend: Backend, store: ResultStore, job: Job, ticket: Ticket) -> AsyncIterator[FlowEvent]:
    """Run one checked job, admitted by the gate (its ticket), and save its result, as the
    ticket's holder's; the ticket is charged what the model took. Raises GenerationError if
    the model fails.

    A caller who goes away before the result (this stream cancelled or closed) stops the model's
    work (Backend.generate). Once the model's result is in, the work is done: it is saved and
    handed on, and a cancellation that arrives during the save (milliseconds) comes too late.
    Work stopped partway is charged to the ticket by the seconds the model spent on it."""
    working_since = None  # the model's first step: waiting in line costs no GPU time
    shelf.keep(job)  # its guides' pictures, for the studio to put back from a recipe or a remix link
    with ticket.running():
        try:
            async with aclosing(backend.generate(job)) as events:
                async for event in events:
                    if event["type"] != "result":
                        if event["type"] == "progress" and working_since is None:
                            working_since = time.monotonic()
                        yield event
                        continue
                    # File writes off the event loop, shielded: a result the model finished is kept.
                    saving = asyncio.ensure_future(asyncio.to_thread(store.save, event, ticket.owner))
                    try:
                        saved = await asyncio.shield(saving)
                    except asyncio.CancelledError:
                        saved = await saving
                    working_since = None  # charged by its record instead
                    ticket.spend(saved.record)
                    yield saved_event(saved.record, saved.owner_token)
                    return
        except (asyncio.CancelledError, GeneratorExit):  # the caller went away: the model was stopped
            if working_since is not None:
                ticket.spend_seconds(time.monotonic() - working_since)
            raise
    raise GenerationError(f"The {job.preset} {job.kind} model stopped without a result.")
