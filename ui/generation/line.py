"""The line of callers waiting for one model: first come, first served, each told its place.

A caller joins and reads its position (1: next in line); whoever changes what the line waits on
(a call ends, a model loads, a caller is let in or goes away) calls `changed()`, from any thread,
and every waiting caller looks again. A version number makes this race-free: a caller reads the
version under the lock together with what it decided on, and `changed_since(version)` returns at
once if anything changed in between. Each caller waits on a future of its own event loop (the
CLI and the tests run a loop per call), woken with call_soon_threadsafe.

The local backend's line is the real one: callers wait here for room in a model instance. On
Modal the line is this web container's view of Modal's queue: its calls to a model that have
not yet heard from a GPU, in the order they were made (one web container serves the studio, so
that is everyone's).
"""

from __future__ import annotations

import asyncio
import threading


class Place:
    """One caller's place in a line."""


class Line:
    def __init__(self) -> None:
        self.lock = threading.RLock()  # guards the line, and what its owner decides with it
        self.version = 0
        self._places: list[Place] = []
        self._wakeups: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []

    def __len__(self) -> int:
        return len(self._places)

    def join(self) -> Place:
        place = Place()
        with self.lock:
            self._places.append(place)
        return place

    def position(self, place: Place) -> int:
        """1 for the first in line. Read it under `lock` with whatever it decides."""
        with self.lock:
            return self._places.index(place) + 1

    def leave(self, place: Place) -> None:
        """Out of the line (let in, or gone): those behind it move up."""
        with self.lock:
            if place in self._places:
                self._places.remove(place)
        self.changed()

    def changed(self) -> None:
        """Something the line waits on changed: every waiting caller looks again."""
        with self.lock:
            self.version += 1
            wakeups, self._wakeups = self._wakeups, []
        for loop, wakeup in wakeups:
            try:
                loop.call_soon_threadsafe(_wake, wakeup)
            except RuntimeError:  # that caller's loop has closed: nobody is waiting there
                pass

    async def changed_since(self, version: int) -> None:
        """Return once the line's version is past `version` (at once if it already is)."""
        loop = asyncio.get_running_loop()
        with self.lock:
            if self.version != version:
                return
            wakeup = loop.create_future()
            self._wakeups.append((loop, wakeup))
        await wakeup


def _wake(wakeup: asyncio.Future) -> None:
    if not wakeup.done():  # a caller who gave up has a cancelled future
        wakeup.set_result(None)
