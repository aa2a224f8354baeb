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
from contextlib import aclosing

from models.requests import Job
from ui.errors import GenerationError
from ui.gate import Ticket
from ui.generation.backend import Backend
from ui.generation.events import FlowEvent, saved_event
from ui.store import ResultStore


async def generate(backend: Backend, store: ResultStore, job: Job, ticket: Ticket) -> AsyncIterator[FlowEvent]:
    """Run one checked job, admitted by the gate (its ticket), and save its result, as the
    ticket's holder's; the ticket is charged what the model took. Raises GenerationError if
    the model fails.

    A caller who goes away before the result (this stream cancelled or closed) stops the model's
    work (Backend.generate). Once the model's result is in, the work is done: it is saved and
    handed on, and a cancellation that arrives during the save (milliseconds) comes too late."""
    with ticket.running():
        async with aclosing(backend.generate(job)) as events:
            async for event in events:
                if event["type"] != "result":
                    yield event
                    continue
                # File writes stay off the event loop.
                saving = asyncio.ensure_future(asyncio.to_thread(store.save, event, ticket.owner))
                try:
                    saved = await asyncio.shield(saving)
                except asyncio.CancelledError:
                    saved = await saving
                ticket.spend(saved.record)
                yield saved_event(saved.record, saved.owner_token)
                return
    raise GenerationError(f"The {job.preset} {job.kind} model stopped without a result.")
