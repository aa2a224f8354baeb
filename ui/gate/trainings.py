"""Who may train LoRA adapters, and how many trainings each visitor may have at once: the one rule
both ways into training meet, POST /api/v1/trainings (ui/api/trainings.py) and the studio's Train
tab (ui/studio/train_tab.py). A training holds a GPU for minutes, not seconds, so beyond the gate's
limits on every generation:

- `closed`: on Modal only trusted callers train — the holder of an API token
  (ATELIER_API_TOKENS), or a visitor of a studio locked with ATELIER_STUDIO_TOKEN — unless the owner
  sets ATELIER_OPEN_TRAINING=1. Elsewhere (one's own machine, hybrid) the owner is at the keyboard.
  A 403 `training_closed` otherwise.
- `check_room`: each visitor (the gate's: a token, else an address) may have
  ATELIER_TRAININGS_PER_CLIENT trainings waiting or running at once, counted over both ways in:
  a 429 `too_many_trainings` naming those to wait for. Each training started is `hold`-ed (a
  REST job until it finishes) or `held_while` it runs (a Train tab event).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from ui.errors import ApiError
from ui.gate.visitors import Visitor
from ui.settings import ApiSettings

WayIn = Literal["api", "studio"]


@dataclass(frozen=True)
class Held:
    what: str  # how the refusal names it: "job <id>", "one in the studio's Train tab"
    finished: Callable[[], bool]


class Trainings:
    def __init__(self, settings: ApiSettings):
        self.settings = settings
        self._held: dict[str, list[Held]] = {}  # visitor key → its trainings, some maybe finished since

    def closed(self, visitor: Visitor, where: str, way_in: WayIn) -> None:
        """ApiError 403 where this visitor may not train here at all."""
        trusted = visitor.has_token or (way_in == "studio" and bool(self.settings.studio_token))
        if where != "modal" or trusted or self.settings.open_training:
            return
        raise ApiError(403, "training_closed", "This deployment trains adapters only for its owner's people: set "
                       "ATELIER_API_TOKENS (and send one), lock the studio with ATELIER_STUDIO_TOKEN, or set "
                       "ATELIER_OPEN_TRAINING=1 to let anyone train.")

    def check_room(self, visitor: Visitor) -> None:
        """ApiError 429 for a visitor with as many trainings waiting or running as it may have."""
        unfinished = [held for held in self._held.pop(visitor.key, []) if not held.finished()]
        if unfinished:  # a visitor whose trainings have all ended is forgotten
            self._held[visitor.key] = unfinished
        most = self.settings.trainings_per_client
        if len(unfinished) >= most:
            raise ApiError(429, "too_many_trainings",
                           f"You already have {len(unfinished)} training{'s' if len(unfinished) > 1 else ''} waiting "
                           f"or running ({', '.join(held.what for held in unfinished)}), and may have {most} at once: "
                           "wait for it to finish, or stop it (POST /api/v1/jobs/{id}/cancel, or Stop in the studio).")

    def hold(self, visitor: Visitor, what: str, finished: Callable[[], bool]) -> None:
        """Count a training just started against its visitor until `finished()` says it has ended."""
        self._held.setdefault(visitor.key, []).append(Held(what, finished))

    @contextmanager
    def held_while(self, visitor: Visitor, what: str) -> Iterator[None]:
        """Count a training against its visitor while the block runs (ended, failed or stopped)."""
        ended = threading.Event()
        self.hold(visitor, what, ended.is_set)
        try:
            yield
        finally:
            ended.set()
