"""Which results go when the store is full, so that nothing of one visitor's is lost to another's.

At each save, inside its transaction, two caps are kept (ui/settings.py):

1. the saver's own (ATELIER_RESULTS_PER_VISITOR): a visitor, an address or an API token kept
   as a digest, past their cap loses their own oldest result first, unpublished before
   published. The command line's saves are the machine's own user's and have no such cap.
2. the store's (ATELIER_RESULTS_MAX_COUNT and _MAX_SIZE): unpublished results older than a
   day go first, oldest first. Only when none of those is left do younger unpublished ones
   go, oldest first, and published ones last. So a stranger's flood of new results can take
   neither anyone's published work nor anything made today while older unpublished results
   remain; and with the per-visitor cap, the flood mostly replaces itself.

The one just saved is never removed. Each choice is one index seek (database.py's indexes),
however full the store.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ui.store.database import forget

log = logging.getLogger("atelier.store")

PROTECTED_AGE_S = 24 * 3600  # younger results are spared while older unpublished ones remain


@dataclass(frozen=True)
class Limits:
    count: int
    bytes: int
    per_visitor: int


def evict(db, limits: Limits, keep: str, visitor: str | None) -> list[str]:
    """Forget results until the visitor's cap, then the store's count and size, fit (the files go
    after the transaction commits); their ids."""
    gone = []
    if visitor:
        (mine,) = db.execute("SELECT count(*) FROM results WHERE visitor = ?", (visitor,)).fetchone()
        for _ in range(mine - limits.per_visitor):
            victim = db.execute("SELECT id, bytes FROM results WHERE visitor = ? AND id != ? "
                                "ORDER BY published, seq LIMIT 1", (visitor, keep)).fetchone()
            gone.append(_drop(db, victim, "its maker's oldest, past their own cap"))
    count, total = db.execute("SELECT count, bytes FROM totals").fetchone()
    while count > 1 and (count > limits.count or total > limits.bytes):
        victim, why = _next(db, keep)
        gone.append(_drop(db, victim, why))
        count, total = count - 1, total - victim["bytes"]
    return gone


def _next(db, keep: str) -> tuple:
    """The result the store's caps take next, and why. The oldest unpublished result is the first
    row of the `published` index: if it is younger than a day, every unpublished one is."""
    oldest = db.execute("SELECT id, bytes, created_at FROM results WHERE published = 0 AND id != ? "
                        "ORDER BY seq LIMIT 1", (keep,)).fetchone()
    if oldest is not None and oldest["created_at"] < time.time() - PROTECTED_AGE_S:
        return oldest, "the oldest unpublished"
    victim = db.execute("SELECT id, bytes, published FROM results WHERE id != ? ORDER BY published, seq LIMIT 1",
                        (keep,)).fetchone()
    if victim["published"]:
        return victim, "the oldest published: nothing unpublished is left"
    return victim, "the oldest unpublished, younger than a day: none older is left"


def _drop(db, victim, why: str) -> str:
    log.info("store full: removing result %s, %s", victim["id"], why)
    forget(db, victim["id"])
    return victim["id"]
