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
from collections.abc import AsyncIterator

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
    the model fails."""
    shelf.keep(job)  # its guides' pictures, for the studio to put back from a recipe or a remix link
    with ticket.running():
        async for event in backend.generate(job):
            if event["type"] != "result":
                yield event
                continue
            saved = await asyncio.to_thread(store.save, event, ticket.owner)  # file writes stay off the event loop
            ticket.spend(saved.record)
            yield saved_event(saved.record, saved.owner_token)
            return
    raise GenerationError(f"The {job.preset} {job.kind} model stopped without a result.")
