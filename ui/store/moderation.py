"""Moderation of shared results, in the store's index (the moderation table of database.py):
what visitors reported, and what the deployment's owner decided in /admin (ui/pages/admin.py).

A result's moderation state is one of:

    (none)     nothing decided: published means listed
    pending    published while ATELIER_GALLERY_REVIEW=1: listed only once approved
    approved   listed when published
    hidden     by the owner of the deployment: not listed, and its page, media and record
               answer 404 to everyone but the result's own owner (its owner token)

Reports: anyone may report a result from its share page, once per address (kept as a hash),
with a reason from REASONS; the latest MAX_REASONS are kept with the count. /admin lists
reported results first, then recent public ones, with Hide, Unhide, Approve, Delete and Dismiss
(forget its reports). A result's row goes with it when it is deleted (a trigger).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

from ui.errors import NotAllowed, NotFound
from ui.store.database import Database

HIDDEN, PENDING, APPROVED = "hidden", "pending", "approved"
STATES = (HIDDEN, PENDING, APPROVED)
REASONS = {
    "sexual": "Sexual content",
    "violence": "Violence or gore",
    "hate": "Hate or harassment",
    "illegal": "Illegal content",
    "private": "Someone's private information",
    "other": "Something else",
}
MAX_REASONS = 20  # the latest reports kept per result
MAX_REPORTERS = 500  # who reported a result already (hashed), to count each once


# SQL: a result row `r`'s moderation state, as the column "moderation".
STATE = "(SELECT m.state FROM moderation m WHERE m.id = r.id) AS moderation"


class Moderation:
    def __init__(self, db: Database, changed: Callable[[], None], review: bool):
        self.db = db
        self._changed = changed  # the store's batched sync (Modal: snapshot + Volume commit)
        self.review = review  # ATELIER_GALLERY_REVIEW: published results wait for approval
        # SQL: a published row `r` may be listed (not hidden; approved, if published under review).
        waiting = f" OR m.state = '{PENDING}'" if review else ""
        self.listed = f"NOT EXISTS (SELECT 1 FROM moderation m WHERE m.id = r.id AND (m.state = '{HIDDEN}'{waiting}))"

    def publishing(self, db, record: dict) -> None:
        """Before a result is published, in its transaction: never one the safety checker flagged
        (models/image/safety.py) or a moderator hid (NotAllowed); under review, it waits for approval."""
        if (record.get("safety") or {}).get("flagged"):
            raise NotAllowed("The safety checker flagged this result, so it can't be published.")
        if record.get("moderation") == HIDDEN:
            raise NotAllowed("This result was hidden by the owner of this site, so it can't be published.")
        if self.review and record.get("moderation") is None:
            self.set_state(db, record["id"], PENDING)

    def state(self, result_id: str) -> str | None:
        rows = self.db.query("SELECT state FROM moderation WHERE id = ?", (result_id,))
        return rows[0]["state"] if rows else None

    def decide(self, result_id: str, state: str | None) -> None:
        """The deployment owner's decision (ui/pages/admin.py): hidden, approved, or none."""
        with self.db.write() as db:
            if not db.execute("SELECT 1 FROM results WHERE id = ?", (result_id,)).fetchone():
                raise NotFound("No result with that id.")
            self.set_state(db, result_id, state)
        self._changed()

    def set_state(self, db, result_id: str, state: str | None) -> None:
        """In the caller's write transaction."""
        if state is not None and state not in STATES:
            raise ValueError(f"not a moderation state: {state!r}")
        db.execute("INSERT INTO moderation (id, state, changed_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE "
                   "SET state = excluded.state, changed_at = excluded.changed_at", (result_id, state, time.time()))

    def report(self, result_id: str, reporter: str, reason: str) -> bool:
        """Count one report of a result that exists; False if this reporter already reported it."""
        who = hashlib.sha256(f"{result_id}:{reporter}".encode()).hexdigest()[:32]
        with self.db.write() as db:
            if not db.execute("SELECT 1 FROM results WHERE id = ?", (result_id,)).fetchone():
                return False
            row = db.execute("SELECT reasons, reporters FROM moderation WHERE id = ?", (result_id,)).fetchone()
            reporters = json.loads(row["reporters"]) if row else []
            if who in reporters:
                return False
            reasons = (json.loads(row["reasons"]) if row else []) + [{"reason": reason, "at": time.time()}]
            db.execute(
                "INSERT INTO moderation (id, reports, reasons, reporters, reported_at) VALUES (?, 1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET reports = reports + 1, reasons = excluded.reasons, "
                "reporters = excluded.reporters, reported_at = excluded.reported_at",
                (result_id, json.dumps(reasons[-MAX_REASONS:]), json.dumps((reporters + [who])[-MAX_REPORTERS:]),
                 time.time()))
        self._changed()
        return True

    def dismiss(self, result_id: str) -> None:
        """Forget a result's reports (its state stays)."""
        with self.db.write() as db:
            db.execute("UPDATE moderation SET reports = 0, reasons = '[]', reporters = '[]', reported_at = NULL "
                       "WHERE id = ?", (result_id,))
        self._changed()

    def reported(self, limit: int = 50) -> list[dict]:
        """Results with reports, most reported first: (record, published, state, reports, reasons)."""
        return self._rows("m.reports > 0", "m.reports DESC, m.reported_at DESC", limit)

    def recent(self, limit: int = 50) -> list[dict]:
        """Published (and hidden) results, newest first; under review, those waiting for it first."""
        order = f"(m.state = '{PENDING}') DESC, r.seq DESC" if self.review else "r.seq DESC"
        return self._rows(f"r.published = 1 OR m.state = '{HIDDEN}'", order, limit)

    def _rows(self, where: str, order: str, limit: int) -> list[dict]:
        rows = self.db.query(
            "SELECT r.record, r.published, m.state, coalesce(m.reports, 0) AS reports, m.reasons "
            f"FROM results r LEFT JOIN moderation m ON m.id = r.id WHERE {where} ORDER BY {order} LIMIT ?", (limit,))
        return [{"record": json.loads(row["record"]), "published": bool(row["published"]), "state": row["state"],
                 "reports": row["reports"], "reasons": json.loads(row["reasons"]) if row["reasons"] else []}
                for row in rows]
