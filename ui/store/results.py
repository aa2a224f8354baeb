"""The result store: every generation's media files, and its record in the store's index.

    <root>/index.db                         the index (ui/store/database.py): records, jobs, search
    <root>/media/<id[:2]>/<id>-<name>       the media, named as the model named them

A local folder by default (ATELIER_RESULTS, else ~/.cache/atelier/results); on Modal a
Volume mounted in the web container, with the index's working copy on local disk
(`working_copy`) written back in batches: database.py says why. Media files are written
once and never rewritten, and a result costs only its media files (no folder, no record
file): one file for an image or a clip, against three or more in the folder-per-result
layout this store replaces (migrated on first open, ui/store/migrate.py).

A save is two short transactions around the file writes: the id is noted as `loose`
first, the files are written, then the record goes in and the note comes out, at once. A
crash in between leaves a loose id, whose files are removed when a store next opens it;
no record ever points at a file that is not whole. Records, the published flag and the
owner's hash change in the database only.

Ids are random and checked against one pattern before any path is built, and media are
only served when the record lists them (with a media type from a short allowlist), so
nothing outside the store is reachable. Listings page by keyset (the `seq` of the last
result shown), so the hundredth page costs what the first does; the gallery's prompt
search is SQLite FTS5.

Several processes may use one store folder at once (`atelier generate` beside a running
studio): they share the index through SQLite's locking, and each query sees the others'
committed changes.

Limits (ATELIER_RESULTS_MAX_COUNT, _MAX_SIZE and _PER_VISITOR, ui/settings.py) are kept at
each save, so that nothing of one visitor's is lost to another's: ui/store/eviction.py says
what goes first.

Each result has an owner secret, returned once when it is saved and kept only as a hash:
whoever holds it can publish, unpublish or delete. Unpublished results are private in the
sense of unlisted: reachable by id, never shown in listings of published work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.common.events import ResultEvent
from ui.errors import Forbidden, NotFound
from ui.settings import ModerationSettings, StoreSettings
from ui.store.database import Database, forget, insert_result, restore, search_expression
from ui.store.eviction import Limits, evict
from ui.store.jobs import JobTable
from ui.store.migrate import migrate_folder_store
from ui.store.moderation import HIDDEN, STATE, Moderation

log = logging.getLogger("atelier.store")

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Served with this type from the studio's own origin: nothing a browser would run (no HTML, no SVG).
MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "audio/wav", "audio/mpeg", "audio/flac", "audio/ogg",
                         "video/mp4"})
# A save begun longer ago than this and never finished was cut off by a crash; a younger one
# may be another process writing right now.
_STALE_SAVE_S = 3600
INDEX_NAME = "index.db"


@dataclass(frozen=True)
class Saved:
    record: dict
    owner_token: str  # shown once to whoever made the result; only its hash is stored


class ResultStore:
    def __init__(
        self,
        root: Path | None = None,
        max_results: int | None = None,
        max_bytes: int | None = None,
        max_per_visitor: int | None = None,
        on_change: Callable[[], None] | None = None,
        working_copy: Path | None = None,
        sync_interval_s: float | None = None,
    ):
        """`on_change` is called (from a background thread, at most once per `sync_interval_s`,
        changes meanwhile batched) after the store changed: e.g. commit a Modal Volume. With a
        `working_copy` (a path on local disk), the index is kept there and snapshotted into
        <root>/index.db before each such call; see database.py."""
        settings = StoreSettings.from_env()  # ATELIER_RESULTS*: what the arguments leave open
        self.root = Path(root or settings.root)
        self.limits = Limits(count=max_results or settings.results_max_count,
                             bytes=max_bytes or settings.results_max_size,
                             per_visitor=max_per_visitor or settings.results_per_visitor)
        self._media = self.root / "media"
        self._media.mkdir(parents=True, exist_ok=True)
        self._snapshot_to = self.root / INDEX_NAME if working_copy is not None else None
        if working_copy is not None:
            working_copy = Path(working_copy)
            if not working_copy.exists() and self._snapshot_to.exists():
                restore(self._snapshot_to, working_copy)  # a fresh container: start from the last snapshot
            db_path = working_copy
        else:
            db_path = settings.results_db if root is None else None
            db_path = db_path or self.root / INDEX_NAME
        self.db = Database(db_path)
        self.jobs = JobTable(self.db, self._changed)
        self.moderation = Moderation(self.db, self._changed, ModerationSettings.from_env().gallery_review)
        self._on_change = on_change
        self.sync_interval_s = settings.results_sync_interval if sync_interval_s is None else sync_interval_s
        self.snapshots = 0  # how many snapshots were written (bench/bench_store.py reads these)
        self.snapshot_bytes = 0
        self._pending_change = threading.Event()
        self._closed = threading.Event()
        self._sync_lock = threading.Lock()
        migrated = migrate_folder_store(self.root, self.db, self._media_file, MEDIA_TYPES)
        self._clean_loose()
        if on_change is not None or self._snapshot_to is not None:
            # Its own thread: a Volume commit is a blocking call that may take a while, and the
            # store is used from the event loop too. Changes that arrive meanwhile share one call.
            self._sync_thread = threading.Thread(target=self._report_changes, name="atelier-store-changes", daemon=True)
            self._sync_thread.start()
            if migrated:
                self._changed()

    # --- writing --------------------------------------------------------------------------

    def save(self, result: ResultEvent, visitor: str | None = None) -> Saved:
        """Store a model's result event (files + record) as `visitor`'s (a digest; None: the machine's
        own user, who has no cap of their own); returns the public record and owner secret."""
        for f in result["files"]:  # all checked before anything is written
            if not _FILE_NAME.match(f["name"]) or f["name"] == "record.json":
                raise ValueError(f"unsafe file name from the model: {f['name']!r}")
            if f["mime"] not in MEDIA_TYPES:
                raise ValueError(f"media type {f['mime']!r} is not one the store serves")
        if len({f["name"] for f in result["files"]}) != len(result["files"]):
            raise ValueError("two files from the model have the same name")
        result_id = secrets.token_urlsafe(12)
        owner_token = secrets.token_urlsafe(24)
        created_at = time.time()
        with self.db.write() as db:
            db.execute("INSERT INTO loose (id, since) VALUES (?, ?)", (result_id, created_at))
        written: list[Path] = []
        try:
            files = []
            for f in result["files"]:
                path = self._media_file(result_id, f["name"])
                _write_bytes(path, f["data"])
                written.append(path)
                files.append({"name": f["name"], "mime": f["mime"], "bytes": len(f["data"])})
            record = {**result["record"], "id": result_id, "created_at": created_at, "files": files}
            owner_hash = _hash(owner_token)
            with self.db.write() as db:
                insert_result(db, record, published=False, owner_hash=owner_hash, visitor=visitor)
                db.execute("DELETE FROM loose WHERE id = ?", (result_id,))
                evicted = evict(db, self.limits, keep=result_id, visitor=visitor)
        except BaseException:
            for path in written:  # only what this save wrote: never another result's files
                path.unlink(missing_ok=True)
            with self.db.write() as db:
                db.execute("DELETE FROM loose WHERE id = ?", (result_id,))
            raise
        for gone in evicted:
            self._finish_removal(gone)
        self._changed()
        return Saved(record=public({**record, "published": False}), owner_token=owner_token)

    def set_published(self, result_id: str, owner_token: str | None, published: bool) -> dict:
        with self.db.write() as db:
            record = self._owned(result_id, owner_token)
            if published:  # what moderation allows (ui/store/moderation.py)
                self.moderation.publishing(db, record)
            db.execute("UPDATE results SET published = ? WHERE id = ?", (int(published), result_id))
            record = self._record(result_id)
        self._changed()
        return public(record)

    def set_owner_token(self, result_id: str, owner_token: str | None, new_owner_token: str) -> None:
        """Hand ownership to another secret (async jobs issue theirs before the result exists)."""
        with self.db.write() as db:
            self._owned(result_id, owner_token)
            db.execute("UPDATE results SET owner_hash = ? WHERE id = ?", (_hash(new_owner_token), result_id))
        self._changed()

    def delete(self, result_id: str, owner_token: str | None) -> None:
        self._owned(result_id, owner_token)
        self.remove(result_id)

    def remove(self, result_id: str) -> None:
        """Delete; without an owner token, as the deployment's owner does in /admin (ui/pages/admin.py)."""
        with self.db.write() as db:
            self._record(result_id)
            forget(db, result_id)
        self._finish_removal(result_id)
        self._changed()

    # --- reading --------------------------------------------------------------------------

    def get(self, result_id: str, owner_token: str | None = None) -> dict:
        """The public record (no owner hash) of one result; NotFound for unknown or malformed ids (`_visible`)."""
        return public(self._visible(result_id, owner_token))

    def media_path(self, result_id: str, name: str, owner_token: str | None = None) -> tuple[Path, str]:
        """(path, mime) of a file the record lists; nothing else is ever resolved to a path."""
        record = self._visible(result_id, owner_token)
        for f in record["files"]:
            if f["name"] == name:
                return self._media_file(result_id, f["name"]), f["mime"]
        raise NotFound(f"Result {result_id} has no file named {name!r}.")

    def list(
        self,
        *,
        published_only: bool = True,
        kind: str | None = None,
        before: str | None = None,
        limit: int = 24,
        search: str | None = None,
    ) -> list[dict]:
        """Newest first. `before` is the id of the last result of the previous page; `search`
        keeps results whose prompt has every word of it (any case, accents folded)."""
        match = search_expression(search) if search else None
        # A search walks the full-text index newest first (its rowid is -seq: database.py) and
        # stops at the LIMIT; "seq IN (matches)" would collect every match first, which for a
        # common word is half the store.
        where, args = (["results_fts MATCH ?"], [match]) if match else ([], [])
        if published_only:
            where += ["r.published = 1", self.moderation.listed]
        if kind:
            where.append("r.kind = ?")
            args.append(kind)
        if before is not None:
            rows = self.db.query("SELECT seq FROM results WHERE id = ?", (before,)) if _valid_id(before) else []
            if not rows:
                return []  # a page after a result that is gone (or never was): nothing follows it
            where.append("f.rowid > ?" if match else "r.seq < ?")
            args.append(-rows[0]["seq"] if match else rows[0]["seq"])
        if match:
            sql = "SELECT r.* FROM results_fts f JOIN results r ON r.seq = -f.rowid"
            order = "f.rowid"
        else:
            sql, order = "SELECT r.* FROM results r", "r.seq DESC"
        sql += (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order} LIMIT ?"
        return [public(_from_row(row)) for row in self.db.query(sql, (*args, limit))]

    def __len__(self) -> int:
        return self.db.query("SELECT count FROM totals")[0]["count"]

    def usage(self) -> dict:
        """How full the store is, against its limits."""
        count, used = self.db.query("SELECT count, bytes FROM totals")[0]
        return {"results": count, "bytes": used, "max_results": self.limits.count, "max_bytes": self.limits.bytes}

    def is_owner(self, result_id: str, owner_token: str | None) -> bool:
        try:
            self._owned(result_id, owner_token)
            return True
        except (NotFound, Forbidden):
            return False

    # --- keeping the Volume (or whoever listens) up to date --------------------------------

    def sync(self) -> None:
        """Snapshot the working copy (if any) and report the change now; the background thread
        does this on its own, in batches."""
        with self._sync_lock:
            if self._snapshot_to is not None:
                self.snapshot_bytes += self.db.snapshot(self._snapshot_to)
                self.snapshots += 1
            if self._on_change is not None:
                self._on_change()

    def close(self) -> None:
        """Write out what is pending (the last snapshot and commit) and stop. Call at shutdown."""
        if self._closed.is_set():
            return
        self._closed.set()
        thread = getattr(self, "_sync_thread", None)
        if thread is None:
            return
        self._pending_change.set()  # wakes the thread, which sees _closed and ends
        thread.join(timeout=60)  # a sync in flight finishes first: then ours is the last word
        try:
            self.sync()
        except Exception:
            log.exception("result store: the last sync at shutdown failed")

    # --- internals ------------------------------------------------------------------------

    def _media_file(self, result_id: str, name: str) -> Path:
        # Shards by the id's first two characters (at most 64² folders): no folder holds more
        # than a few hundred files even at the Volume's limits, and there is no folder per result.
        return self._media / result_id[:2] / f"{result_id}-{name}"

    def _record(self, result_id: str) -> dict:
        if not _valid_id(result_id):
            raise NotFound("No result with that id.")
        rows = self.db.query(f"SELECT r.*, {STATE} FROM results r WHERE r.id = ?", (result_id,))
        if not rows:
            raise NotFound("No result with that id.")
        return _from_row(rows[0])

    def _visible(self, result_id: str, owner_token: str | None) -> dict:
        """The record for whoever asks: a hidden one (ui/store/moderation.py) for its owner alone."""
        record = self._record(result_id)
        if record.get("moderation") == HIDDEN and not self.is_owner(result_id, owner_token):
            raise NotFound("No result with that id.")
        return record

    def _owned(self, result_id: str, owner_token: str | None) -> dict:
        record = self._record(result_id)
        if not isinstance(owner_token, str) or not owner_token:
            raise Forbidden("Only the person who made this result can change it: send its owner token.")
        if not hmac.compare_digest(record["owner_hash"], _hash(owner_token)):
            raise Forbidden("That owner token does not match this result.")
        return record

    def _finish_removal(self, result_id: str) -> None:
        self._remove_files(result_id)
        with self.db.write() as db:
            db.execute("DELETE FROM loose WHERE id = ?", (result_id,))

    def _remove_files(self, result_id: str) -> None:
        # Every file of the id, listed or not (a save cut short never got its record). Ids are
        # 16 characters from [A-Za-z0-9_-]: no glob metacharacters, and "<id>-" prefixes no
        # other id's files.
        for path in (self._media / result_id[:2]).glob(f"{result_id}-*"):
            path.unlink(missing_ok=True)

    def _clean_loose(self) -> None:
        """Finish deletions and clear saves a crash cut short (their files, never a record)."""
        stale = self.db.query("SELECT id FROM loose WHERE since < ?", (time.time() - _STALE_SAVE_S,))
        for row in stale:
            log.info("store: removing the files of %s, left by an unfinished save or delete", row["id"])
            self._finish_removal(row["id"])

    def _changed(self) -> None:
        self._pending_change.set()

    def _report_changes(self) -> None:
        while True:
            self._pending_change.wait()
            if self._closed.is_set():
                return
            # Gather what else changes in the next moments into the same snapshot and commit.
            if self._closed.wait(self.sync_interval_s):
                return  # close() writes the last one
            self._pending_change.clear()
            try:
                self.sync()
            except Exception:  # the change is in the working copy; the next sync will carry it
                log.exception("result store: syncing the index (on_change hook) failed")
                self._pending_change.set()




def _from_row(row) -> dict:
    moderated = {"moderation": row["moderation"]} if "moderation" in row.keys() and row["moderation"] else {}
    return {**json.loads(row["record"]), "published": bool(row["published"]), "owner_hash": row["owner_hash"], **moderated}


def _valid_id(result_id) -> bool:
    return isinstance(result_id, str) and ID_PATTERN.match(result_id) is not None


def public(record: dict) -> dict:
    """A record as anyone may see it: without the owner secret's hash."""
    return {k: v for k, v in record.items() if k != "owner_hash"}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(exist_ok=True)
    with open(path, "xb") as f:  # "x": a file is written once, never over another
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
