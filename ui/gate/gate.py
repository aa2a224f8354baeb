"""The gate every generation passes: the studio's (browser and gradio_client), the REST API's,
its jobs', and `atelier serve`'s, which is the same app.

    ticket = gate.admit(visitor)        # 429 or 503 now, with one sentence, or leave to run
    async for event in generate(backend, store, job, ticket): ...

`admit` checks, in this order, so that a refusal spends nothing:

1. the visitor's GPU budget (ui/gate/budget.py): 429 `gpu_budget_spent` and when it refills;
2. generations waiting or running at once, every way in together
   (ATELIER_MAX_ACTIVE_GENERATIONS): 503 `busy`;
3. the visitor's generations per minute (ATELIER_GENERATION_RATE_LIMIT): 429 `rate_limited`.

The ticket then travels with the generation (ui.generation.generate takes it, and nothing
generates without one): it holds a place among the generations running while the model
works, says whose the result is (the store's per-visitor cap), and is charged what the
generation took. The command line's `atelier generate` runs with LOCAL's ticket: the
machine's own user, no limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from ui.errors import ApiError
from ui.gate.buckets import RateLimiter
from ui.gate.budget import Budget, duration
from ui.gate.trainings import Trainings
from ui.gate.visitors import LOCAL, Visitor, visitor_of
from ui.settings import ApiSettings


class Ticket:
    """Leave for one generation, from Gate.admit (or `local()`, for the command line)."""

    def __init__(self, visitor: Visitor, gate: Gate | None = None):
        self.visitor, self._gate = visitor, gate

    @classmethod
    def local(cls) -> Ticket:
        return cls(LOCAL)

    @property
    def owner(self) -> str | None:
        """Whose results these are, for the store's per-visitor cap (None: the machine's own user)."""
        return None if self.visitor.trusted else self.visitor.id

    @contextmanager
    def running(self) -> Iterator[None]:
        """A place among the generations waiting or running, held while the model works."""
        if self._gate is None:
            yield
            return
        self._gate.active += 1
        try:
            yield
        finally:
            self._gate.active -= 1

    def spend(self, record: dict) -> None:
        """Charge what the saved result's record says its generation took."""
        if self._gate is not None:
            self._gate.budget.spend(self.visitor, record)

    def spend_seconds(self, seconds: float) -> None:
        """Charge a generation stopped partway (it has no record): the seconds the model worked on it."""
        if self._gate is not None:
            self._gate.budget.charge(self.visitor, seconds)


class Gate:
    def __init__(self, settings: ApiSettings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.budget = Budget(settings, clock)
        self.generations = RateLimiter(settings.generation_rate_limit, clock)
        self.max_active = settings.max_active_generations
        self.active = 0  # generations waiting for or running on a model, this process
        self.trainings = Trainings(settings)  # who may train, and how many at once (ui/gate/trainings.py)

    def visitor(self, headers: Mapping[str, str], client_host: str | None) -> Visitor:
        return visitor_of(headers, client_host, self.settings)

    def admit(self, visitor: Visitor) -> Ticket:
        """Leave for one generation, or ApiError (429/503) with one sentence and Retry-After."""
        if visitor.trusted:
            return Ticket(visitor, self)
        if (wait := self.budget.refills_in(visitor)) is not None:
            per_hour = duration(self.budget.capacity(visitor))
            who = "this token" if visitor.has_token else "each visitor"
            raise ApiError(429, "gpu_budget_spent", f"Your GPU time is used up for now ({per_hour} an hour for {who}): "
                                                    f"you can generate again in {duration(wait)}.",
                           {"Retry-After": str(wait)})
        if self.active >= self.max_active:
            raise ApiError(503, "busy", f"{self.max_active} generations are already waiting or running: "
                                        "try again in a minute.", {"Retry-After": "60"})
        if (wait := self.generations.retry_after(visitor.key)) is not None:
            raise ApiError(429, "rate_limited", f"Too many generations: try again in {wait} s.", {"Retry-After": str(wait)})
        return Ticket(visitor, self)
