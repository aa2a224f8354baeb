"""Per-visitor GPU budgets, as Hugging Face's ZeroGPU gives public Spaces: so many GPU-seconds
an hour for each visitor, spent by what their generations actually took.

What a generation took is in its record, written by the model side: `seconds.generate`, the
model call's time (not loading the weights, which a visitor didn't ask for). A batched image
call served several requests at once (models/common/batching.py): its time is shared among
them by the images each asked for, as the record's `batch` says.

A budget refills evenly (ATELIER_VISITOR_GPU_SECONDS an hour per address;
ATELIER_TOKEN_GPU_SECONDS for each API token's holder) and is charged when a generation ends,
so a long one can take it below zero: its owner then waits until it is above zero again.
How far below is bounded by the generation rate limit (ATELIER_GENERATION_RATE_LIMIT) times
the longest generation. Generations that fail have no record and cost nothing here. One its
visitor stopped (Stop, a closed tab, a cancelled job, a client that hung up) has no record
either, but the GPU worked on it: it is charged the seconds from the model's first step to the
stop, as the web side saw them (ui/generation/flow.py), or stopping near the end would be free.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel, Field

from ui.gate.buckets import Buckets
from ui.gate.visitors import Visitor
from ui.settings import ApiSettings

HOUR_S = 3600.0


class BudgetView(BaseModel):
    """A visitor's GPU budget as they may see it (GET /api/budget, the studio's masthead)."""

    limited: bool = Field(description="Whether this visitor has a GPU budget at all.")
    seconds_per_hour: float = Field(description="GPU-seconds this visitor gets an hour (0 when not limited).")
    left: float = Field(description="GPU-seconds left now; below zero after a long generation.")
    refills_in: int = Field(description="Seconds until a new generation may start (0: it may now).")
    summary: str = Field(description="The same in words, as the studio shows it.")


def gpu_seconds(record: dict) -> float:
    """The GPU-seconds one result cost its maker: its share of the model call's time."""
    seconds = (record.get("seconds") or {}).get("generate") or 0.0
    batch = record.get("batch") or {}
    mine = (record.get("parameters") or {}).get("num_images") or 1
    if batch.get("images", 0) > mine:
        seconds *= mine / batch["images"]
    return max(0.0, float(seconds))


class Budget:
    def __init__(self, settings: ApiSettings, clock: Callable[[], float] = time.monotonic):
        self.per_address = settings.visitor_gpu_seconds
        self.per_token = settings.token_gpu_seconds
        self._buckets = Buckets(self.per_address, HOUR_S, clock)

    def capacity(self, visitor: Visitor) -> float:
        """GPU-seconds an hour for this visitor; 0 = no budget."""
        if visitor.trusted:
            return 0.0
        return self.per_token if visitor.has_token else self.per_address

    def refills_in(self, visitor: Visitor) -> int | None:
        """None if the visitor may start a generation now, else the whole seconds until they may."""
        return self._buckets.wait_until_positive(visitor.key, self.capacity(visitor))

    def spend(self, visitor: Visitor, record: dict) -> None:
        self.charge(visitor, gpu_seconds(record))

    def charge(self, visitor: Visitor, seconds: float) -> None:
        self._buckets.charge(visitor.key, max(0.0, seconds), self.capacity(visitor))

    def view(self, visitor: Visitor) -> BudgetView:
        capacity = self.capacity(visitor)
        if capacity <= 0:
            return BudgetView(limited=False, seconds_per_hour=0, left=0, refills_in=0, summary="No GPU time limit.")
        left, wait = self._buckets.level(visitor.key, capacity), self.refills_in(visitor) or 0
        summary = (f"GPU time: {duration(left)} of {duration(capacity)} left this hour" if not wait
                   else f"GPU time used up: more in {duration(wait)}")
        return BudgetView(limited=True, seconds_per_hour=capacity, left=round(left, 1), refills_in=wait, summary=summary)


def duration(seconds: float) -> str:
    """3725 → "1 h 2 min", 125 → "2 min 5 s", 42 → "42 s"."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"
