"""Cancelling a training: a flag per run id, set by the web side, read by the trainer between steps.

Locally the trainer runs in the web process, and the flags are a dict in memory. On Modal the
trainer runs in its own container: app.py installs a `modal.Dict` as the store in every
container (web and trainer alike), so a flag set by the web container is seen by the trainer
within a step. The trainer reads the flag between steps (never mid-step), then removes the
run's folder: a cancelled training leaves nothing behind, and no adapter in the library.

A flag is cleared when the run it names ends, however it ends, so a request made again later
starts afresh. A flag set for a run that never starts stays until the same run starts, which
then stops at its first step: the web side sets flags only for runs it has under way.

Web side too: no torch here.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol


class FlagStore(Protocol):
    """What a store of flags needs: a `modal.Dict` is one, and so is a dict."""

    def __setitem__(self, key: str, value: Any) -> None: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def pop(self, key: str, default: Any = None) -> Any: ...


class _LocalFlags:
    def __init__(self):
        self._flags: dict[str, float] = {}
        self._lock = threading.Lock()

    def __setitem__(self, key: str, value: float) -> None:
        with self._lock:
            self._flags[key] = value

    def get(self, key: str, default=None):
        with self._lock:
            return self._flags.get(key, default)

    def pop(self, key: str, default=None):
        with self._lock:
            return self._flags.pop(key, default)


_store: FlagStore = _LocalFlags()


def use_store(store: FlagStore) -> None:
    """Where flags live (app.py: a modal.Dict shared by the web and trainer containers)."""
    global _store
    _store = store


def request(run_id: str) -> None:
    """Ask the training of this run to stop at its next step (the web side calls this)."""
    _store[run_id] = time.time()


def requested(run_id: str) -> bool:
    return _store.get(run_id) is not None


def clear(run_id: str) -> None:
    _store.pop(run_id, None)
