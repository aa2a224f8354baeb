"""Async jobs' state in the store's index (the jobs table of database.py), so that it
outlives the process running them. What a job *is* and how it runs is ui/generation/jobs.py;
this is only its row: written when it is accepted, at each change of status, and (at most
once a second) as its progress moves, and read back after a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from ui.store.database import Database

_JSON = ("progress", "error", "webhook")
_FINISHED = "('succeeded', 'failed', 'cancelled')"  # the statuses a job ends in (SQL)
_COLUMNS = ("kind", "status", "base_url", "created_at", "started_at", "finished_at", "position", "progress",
            "result_id", "error", "webhook", "callback_url")


class JobTable:
    def __init__(self, db: Database, changed: Callable[[], None]):
        self.db = db
        self._changed = changed  # the store's batched sync (Modal: snapshot + Volume commit)

    def add(self, job_id: str, **fields) -> None:
        names = ["id", *fields]
        with self.db.write() as conn:
            conn.execute(f"INSERT INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                         (job_id, *(_encode(k, v) for k, v in fields.items())))
        self._changed()

    def update(self, job_id: str, **fields) -> None:
        unknown = set(fields) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"not job columns: {sorted(unknown)}")
        with self.db.write() as conn:
            conn.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                         (*(_encode(k, v) for k, v in fields.items()), job_id))
        self._changed()

    def get(self, job_id: str) -> dict | None:
        rows = self.db.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _decode(rows[0]) if rows else None

    def interrupt_unfinished(self, error: dict) -> list[dict]:
        """Mark every queued or running job failed with `error` (their process is gone); returns
        them as they are now, callback URLs included, for their webhooks."""
        now = time.time()
        with self.db.write() as conn:
            ids = [r["id"] for r in conn.execute("SELECT id FROM jobs WHERE status IN ('queued', 'running')")]
            conn.executemany(
                "UPDATE jobs SET status = 'failed', error = ?, finished_at = ?, position = NULL WHERE id = ?",
                [(json.dumps(error), now, job_id) for job_id in ids],
            )
        if ids:
            self._changed()
        return [job for job_id in ids if (job := self.get(job_id))]

    def undelivered(self) -> list[dict]:
        """Finished jobs whose webhook was still pending when their process stopped."""
        rows = self.db.query(
            f"SELECT * FROM jobs WHERE status IN {_FINISHED} AND callback_url IS NOT NULL"
            " AND json_extract(webhook, '$.state') = 'pending'"
        )
        return [_decode(r) for r in rows]

    def prune(self, finished_before: float, keep: int) -> int:
        """Forget finished jobs older than `finished_before`, and the oldest beyond `keep`."""
        with self.db.write() as conn:
            gone = conn.execute(
                f"DELETE FROM jobs WHERE status IN {_FINISHED} AND finished_at < ?", (finished_before,)
            ).rowcount
            gone += conn.execute(
                f"DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status IN {_FINISHED}"
                " ORDER BY finished_at DESC LIMIT -1 OFFSET ?)", (keep,)
            ).rowcount
        if gone:
            self._changed()
        return gone

    def counts(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self.db.query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")}


def _encode(name: str, value):
    return json.dumps(value) if name in _JSON and value is not None else value


def _decode(row) -> dict:
    job = dict(row)
    for name in _JSON:
        if job[name] is not None:
            job[name] = json.loads(job[name])
    return job
