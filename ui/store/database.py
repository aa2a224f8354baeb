"""The store's index: one SQLite file holding every result's record and every job's state.

Why SQLite, and why this shape (the Modal Volume rules, from Modal's Volumes guide):

- A Volume is best under 50,000 files (hard limit 500,000 inodes), and attaching and
  committing it take time that grows with the number of files. A folder and a record.json
  per result (the old layout) cost 3+ inodes each; here the records live in one database
  file and a result costs only its media files (one for an image or a clip).
- A Volume has no file locking across containers, and "last write wins" for a file changed
  in two places. SQLite over such a filesystem (WAL needs shared memory, rollback journals
  need locks) is the classic way to corrupt a database. So on Modal the web container
  (max_containers=1, the only writer) keeps its *working copy* on local disk, restored from
  the Volume's copy when the container starts, and writes it back whole with SQLite's
  online backup API — into a temp file renamed over `index.db`, so the Volume never holds
  half a database — followed by one `volume.commit()`. Writes are batched: at most one
  snapshot and commit per ATELIER_RESULTS_SYNC_INTERVAL seconds, plus one at shutdown,
  instead of a commit per change. The price, measured by bench/bench_store.py: a snapshot
  is the whole index, ~0.8 KiB a result (7.6 MiB at the default cap of 10,000 results,
  76 MiB and ~0.8 s at 100,000), written once per batch. If the index outgrows that, the
  next step is an append-only change log beside the snapshot (a small file per batch,
  folded into the snapshot now and then).
- Locally (and for `atelier generate` beside a running studio) the database lives in the
  store folder itself, in WAL mode where the filesystem allows it, and several processes
  share it through SQLite's own locking: a result saved by one is seen by the others at
  their next query.

What is lost when the web container is killed hard on Modal: changes after the last
snapshot (at most one sync interval). Their media files may already be on the Volume;
they are unreferenced and never served. During a redeploy, the old and the new container
may overlap for a moment: whichever snapshots last wins, so a result saved by the old one
in that window can drop out of the index (known limit; a merge-on-write would fix it).

Not supported yet: a database server (Postgres). The queries are plain SQL except the
prompt search (FTS5) and the working-copy snapshot (SQLite's backup API); a server would
need a driver and its own full-text search, so ATELIER_RESULTS_DB is a file path only.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("atelier.store")

SCHEMA_VERSION = 2

# `seq` orders results newest first and is the keyset for paging: an integer primary key, so
# "the page after this one" is an index seek however many results there are.
SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    published   INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL,
    created_at  REAL NOT NULL,
    prompt      TEXT NOT NULL DEFAULT '',
    owner_hash  TEXT NOT NULL,
    record      TEXT NOT NULL,
    visitor     TEXT NOT NULL DEFAULT ''  -- who made it (a digest: ui/gate/visitors.py); '' = the machine's user
);
-- Listing published work, with or without a kind: each walks its index in seq order. The
-- second is also eviction's: the oldest unpublished result is its first row for published = 0.
CREATE INDEX IF NOT EXISTS results_listed ON results (published, kind);
CREATE INDEX IF NOT EXISTS results_published ON results (published);
-- A visitor's results, unpublished first, each oldest first: their count and their own eviction.
CREATE INDEX IF NOT EXISTS results_visitor ON results (visitor, published);

-- Files that may exist without a record: a save in progress (since = when it began) or a
-- deletion whose files are not all gone yet (since = 0). Whatever is left here stale after a
-- crash is cleaned when a store opens: no half-written result is ever visible, none leaks.
CREATE TABLE IF NOT EXISTS loose (
    id     TEXT PRIMARY KEY,
    since  REAL NOT NULL
);

-- The gallery's prompt search. Contentless (the text is in results.prompt already), with
-- rowid = -seq: FTS5 streams a word's matches in ascending rowid order, while descending
-- order decodes the word's whole list of matches first (3.6 ms for a word in half of
-- 100,000 prompts, against 0.06 ms ascending: measured), so "newest first" is ascending here.
CREATE VIRTUAL TABLE IF NOT EXISTS results_fts USING fts5 (
    prompt, content = '', tokenize = 'unicode61 remove_diacritics 2'
);

-- Count and bytes of all results, kept by triggers: limits are checked on every save, and
-- COUNT/SUM over 100,000 rows on every save would grow with the store.
CREATE TABLE IF NOT EXISTS totals (
    one    INTEGER PRIMARY KEY CHECK (one = 1),
    count  INTEGER NOT NULL,
    bytes  INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals VALUES (1, 0, 0);
CREATE TRIGGER IF NOT EXISTS results_added AFTER INSERT ON results BEGIN
    UPDATE totals SET count = count + 1, bytes = bytes + new.bytes;
    INSERT INTO results_fts (rowid, prompt) VALUES (-new.seq, new.prompt);
END;
CREATE TRIGGER IF NOT EXISTS results_removed AFTER DELETE ON results BEGIN
    UPDATE totals SET count = count - 1, bytes = bytes - old.bytes;
    INSERT INTO results_fts (results_fts, rowid, prompt) VALUES ('delete', -old.seq, old.prompt);
END;

-- Async jobs (ui/generation/jobs.py): their state as it changes, so a restart can answer
-- for every id it ever gave out. `callback_url` never leaves the server.
CREATE TABLE IF NOT EXISTS jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    base_url     TEXT NOT NULL,
    created_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    position     INTEGER,
    progress     TEXT,
    result_id    TEXT,
    error        TEXT,
    webhook      TEXT,
    callback_url TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at);

-- Moderation (ui/store/moderation.py): the owner's decision about a result (hidden, pending
-- review, approved) and visitors' reports. A row only for results someone reported or decided
-- on; it goes with its result. Added to stores made before it by this script's IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS moderation (
    id           TEXT PRIMARY KEY,
    state        TEXT,
    reports      INTEGER NOT NULL DEFAULT 0,
    reasons      TEXT NOT NULL DEFAULT '[]',
    reporters    TEXT NOT NULL DEFAULT '[]',
    reported_at  REAL,
    changed_at   REAL
);
CREATE INDEX IF NOT EXISTS moderation_reported ON moderation (reports);
CREATE TRIGGER IF NOT EXISTS results_moderation_removed AFTER DELETE ON results BEGIN
    DELETE FROM moderation WHERE id = old.id;
END;
"""


# Words of a search that count (FTS5 syntax in a visitor's text is never passed through).
_MAX_SEARCH_TERMS = 8


def search_expression(text: str) -> str | None:
    """A visitor's search as an FTS5 query: each word quoted, all required. Only word
    characters pass, so nothing a visitor types is read as FTS5 syntax. Whole words, not
    prefixes: an FTS5 prefix query gathers every match of every word it starts before
    returning one (11 ms for "warm*" over 100,000 prompts, against 0.06 ms for "warm")."""
    words = re.findall(r"\w+", text.lower())[:_MAX_SEARCH_TERMS]
    return " ".join(f'"{w}"' for w in words) or None


# What an index of an older schema needs to become this one, by the version it reaches.
UPGRADES = {
    2: "ALTER TABLE results ADD COLUMN visitor TEXT NOT NULL DEFAULT ''",
}


def insert_result(db, record: dict, *, published: bool, owner_hash: str, visitor: str | None = None) -> None:
    """Add one complete record to the index (the save's and the migration's one way in; in the caller's transaction)."""
    stored = {k: v for k, v in record.items() if k not in ("published", "owner_hash")}
    db.execute(
        "INSERT INTO results (id, kind, published, bytes, created_at, prompt, owner_hash, record, visitor)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record["id"],
            record.get("kind", "image"),
            int(published),
            sum(f["bytes"] for f in record["files"]),
            record["created_at"],
            str((record.get("parameters") or {}).get("prompt", "")),
            owner_hash,
            json.dumps(stored, separators=(",", ":")),
            visitor or "",
        ),
    )


def forget(db, result_id: str) -> None:
    """Drop a record and note its files for removal, in the caller's transaction."""
    db.execute("DELETE FROM results WHERE id = ?", (result_id,))
    db.execute("INSERT OR REPLACE INTO loose (id, since) VALUES (?, 0)", (result_id,))


class Database:
    """One connection to the index, shared by the store's threads under a lock (queries take
    microseconds; one connection keeps the working copy's snapshot simple)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; writes say BEGIN IMMEDIATE themselves,
        # so a writer takes the lock up front instead of failing halfway on a busy database.
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":  # e.g. a filesystem without shared memory: the rollback journal still works
            log.info("result index %s: WAL not available here (journal mode %s)", path, mode)
        # NORMAL in WAL mode: a power cut may lose the last transactions, never corrupt the file.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._upgrade(path)
        # One transaction (executescript runs its own): another process opening the same new
        # store at the same moment waits, then finds every IF NOT EXISTS satisfied.
        self.conn.executescript(f"BEGIN IMMEDIATE;{SCHEMA}PRAGMA user_version={SCHEMA_VERSION};COMMIT;")

    def _upgrade(self, path: Path) -> None:
        """Bring an index of an older schema up to this one, in one transaction (a second process
        opening it at the same moment waits, then finds it done)."""
        with self.write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"The result index {path} is from a newer Atelier (schema {version}).")
            if version == 0:  # new: SCHEMA creates it as it is now
                return
            for reached in range(version + 1, SCHEMA_VERSION + 1):
                db.execute(UPGRADES[reached])
                db.execute(f"PRAGMA user_version={reached}")

    @contextmanager
    def write(self):
        """One write transaction (re-entrant within a thread)."""
        with self.lock:
            if self.conn.in_transaction:
                yield self.conn
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, args=()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def snapshot(self, target: Path) -> int:
        """Write the whole database to `target` (a single file, rollback-journal mode) and
        return its size; `target` appears whole or not at all."""
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            # From a connection of its own: in WAL mode its read transaction sees one consistent
            # state while the store's connection goes on writing, so a snapshot of a big index
            # doesn't hold up saves and page views for as long as the copy takes.
            source = sqlite3.connect(self.path, timeout=30)
            dest = sqlite3.connect(tmp)
            try:
                source.backup(dest)
                dest.execute("PRAGMA journal_mode=DELETE")  # one file: no -wal or -shm beside it
            finally:
                dest.close()
                source.close()
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target.stat().st_size

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def restore(source: Path, target: Path) -> None:
    """Copy the snapshot at `source` into a fresh working copy at `target` (backup API: a
    consistent copy, whatever journal mode either side uses)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(target)
        try:
            src.backup(dest)
        finally:
            dest.close()
    finally:
        src.close()  # on a Volume, an open file would block a later reload
