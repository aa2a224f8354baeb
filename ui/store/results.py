"""The result store: every generation's files and its JSON record, in one folder.

    <root>/results/<id>/record.json      prompt, parameters, seed, model, timings, files, ...
    <root>/results/<id>/image-0.png      the media, named as the model named them
    <root>/incoming/<id>/                results being written (renamed into results/ whole)

A local folder by default (ATELIER_RESULTS, else ~/.cache/atelier/results); on Modal a
Volume mounted in the web container, committed after changes (`on_change`, called from a
background thread; changes made while it runs are covered by one more call). Writes
are atomic: a result's folder is written beside the store and renamed into place, a record
is replaced with os.replace. Ids are random and checked against one pattern before any
path is built, and media are only served when the record lists them (with a media type
from a short allowlist), so nothing outside the store is reachable.

An in-memory index answers lookups and listings without reading the folder per request.
It is built at start and brought up to date when the results folder changes under it (its
mtime moves), so results saved by another process — `atelier generate` next to a running
studio — show up without a restart.

Limits (ATELIER_RESULTS_MAX_COUNT and _MAX_SIZE, ui/settings.py): the oldest results are
removed first, never the one just saved.

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
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ui.errors import Forbidden, NotFound
from ui.settings import results_limits, results_root

log = logging.getLogger("atelier.store")

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Served with this type from the studio's own origin: nothing a browser would run (no HTML, no SVG).
MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "audio/wav", "audio/mpeg", "audio/flac", "audio/ogg"})
# A folder in incoming/ older than this was left by a crash; younger ones may be another process's write.
_STALE_INCOMING_S = 3600


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
        on_change: Callable[[], None] | None = None,
    ):
        env_count, env_bytes = results_limits()
        self.root = Path(root or results_root())
        self.max_results = max_results or env_count
        self.max_bytes = max_bytes or env_bytes
        self._on_change = on_change  # e.g. commit a Modal Volume
        self._pending_change = threading.Event()
        if on_change is not None:
            # Its own thread: a Volume commit is a blocking call that may take a while, and the
            # store is used from the event loop too. Changes that arrive meanwhile share one call.
            threading.Thread(target=self._report_changes, name="atelier-store-changes", daemon=True).start()
        self._results = self.root / "results"
        self._incoming = self.root / "incoming"
        self._results.mkdir(parents=True, exist_ok=True)
        self._incoming.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._index: dict[str, dict] = {}  # id → record, oldest first
        self._seen_mtime: int | None = None
        self._remove_stale_incoming()
        self._refresh(force=True)

    # --- writing --------------------------------------------------------------------------

    def save(self, result: dict) -> Saved:
        """Store a model's result event (files + record); returns the public record and owner secret."""
        result_id = secrets.token_urlsafe(12)
        owner_token = secrets.token_urlsafe(24)
        files = []
        staging = self._incoming / result_id
        staging.mkdir()
        try:
            for f in result["files"]:
                if not _FILE_NAME.match(f["name"]) or f["name"] == "record.json":
                    raise ValueError(f"unsafe file name from the model: {f['name']!r}")
                if f["mime"] not in MEDIA_TYPES:
                    raise ValueError(f"media type {f['mime']!r} is not one the store serves")
                _write_bytes(staging / f["name"], f["data"])
                files.append({"name": f["name"], "mime": f["mime"], "bytes": len(f["data"])})
            record = {
                **result["record"],
                "id": result_id,
                "created_at": time.time(),
                "files": files,
                "published": False,
                "owner_hash": _hash(owner_token),
            }
            _write_json(staging / "record.json", record)
            os.rename(staging, self._results / result_id)  # the result appears whole, or not at all
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        with self._lock:
            self._index[result_id] = record
            self._enforce_limits()
        self._changed()
        return Saved(record=public(record), owner_token=owner_token)

    def set_published(self, result_id: str, owner_token: str | None, published: bool) -> dict:
        return public(self._update(result_id, owner_token, published=published))

    def set_owner_token(self, result_id: str, owner_token: str | None, new_owner_token: str) -> None:
        """Hand ownership to another secret (async jobs issue theirs before the result exists)."""
        self._update(result_id, owner_token, owner_hash=_hash(new_owner_token))

    def delete(self, result_id: str, owner_token: str | None) -> None:
        with self._lock:
            self._owned(result_id, owner_token)
            self._remove(result_id)
        self._changed()

    # --- reading --------------------------------------------------------------------------

    def get(self, result_id: str) -> dict:
        """The public record (no owner hash) of one result; NotFound for unknown or malformed ids."""
        return public(self._record(result_id))

    def media_path(self, result_id: str, name: str) -> tuple[Path, str]:
        """(path, mime) of a file the record lists; nothing else is ever resolved to a path."""
        record = self._record(result_id)
        for f in record["files"]:
            if f["name"] == name:
                return self._results / result_id / f["name"], f["mime"]
        raise NotFound(f"Result {result_id} has no file named {name!r}.")

    def list(
        self, *, published_only: bool = True, kind: str | None = None, before: str | None = None, limit: int = 24
    ) -> list[dict]:
        """Newest first. `before` is the id of the last result of the previous page."""
        self._refresh()
        with self._lock:
            records = list(self._index.values())
        records.reverse()
        if before is not None:
            ids = [r["id"] for r in records]
            records = records[ids.index(before) + 1 :] if before in ids else []
        picked = []
        for r in records:
            if (published_only and not r["published"]) or (kind and r.get("kind") != kind):
                continue
            picked.append(public(r))
            if len(picked) >= limit:
                break
        return picked

    def __len__(self) -> int:
        return len(self._index)

    def usage(self) -> dict:
        """How full the store is, against its limits."""
        with self._lock:
            used = _total_bytes(self._index.values())
            return {"results": len(self._index), "bytes": used, "max_results": self.max_results, "max_bytes": self.max_bytes}

    def is_owner(self, result_id: str, owner_token: str | None) -> bool:
        try:
            self._owned(result_id, owner_token)
            return True
        except (NotFound, Forbidden):
            return False

    # --- internals ------------------------------------------------------------------------

    def _record(self, result_id: str) -> dict:
        if not isinstance(result_id, str) or not ID_PATTERN.match(result_id):
            raise NotFound("No result with that id.")
        with self._lock:
            record = self._index.get(result_id)
        if record is None and self._refresh():  # perhaps saved by another process just now
            with self._lock:
                record = self._index.get(result_id)
        if record is None:
            raise NotFound("No result with that id.")
        return record

    def _owned(self, result_id: str, owner_token: str | None) -> dict:
        record = self._record(result_id)
        if not isinstance(owner_token, str) or not owner_token:
            raise Forbidden("Only the person who made this result can change it: send its owner token.")
        if not hmac.compare_digest(record["owner_hash"], _hash(owner_token)):
            raise Forbidden("That owner token does not match this result.")
        return record

    def _update(self, result_id: str, owner_token: str | None, **changes) -> dict:
        # Under the lock, so a delete can't remove the folder between the check and the write
        # (which would fail, or bring a deleted result back into the index).
        with self._lock:
            record = self._owned(result_id, owner_token)
            updated = {**record, **changes}
            _write_json(self._results / result_id / "record.json", updated)
            self._index[result_id] = updated
        self._changed()
        return updated

    def _refresh(self, force: bool = False) -> bool:
        """Bring the index in line with the results folder if it changed; True if it did."""
        try:
            mtime = self._results.stat().st_mtime_ns
        except OSError:
            return False
        if not force and mtime == self._seen_mtime:
            return False
        with self._lock:
            self._seen_mtime = mtime
            on_disk = {name for name in os.listdir(self._results) if ID_PATTERN.match(name)}
            for gone in self._index.keys() - on_disk:
                del self._index[gone]
            new = [r for name in on_disk - self._index.keys() if (r := _load_record(self._results / name))]
            if new:
                merged = sorted([*self._index.values(), *new], key=lambda r: r["created_at"])
                self._index = {r["id"]: r for r in merged}
        return True

    def _remove_stale_incoming(self) -> None:
        cutoff = time.time() - _STALE_INCOMING_S
        for leftover in self._incoming.iterdir():
            try:
                if leftover.stat().st_mtime < cutoff:
                    shutil.rmtree(leftover, ignore_errors=True)
            except OSError:
                continue

    def _enforce_limits(self) -> None:
        """Oldest first, drop results until both the count and the size fit; never the newest,
        the one just saved (the index is in age order). Lock held."""
        total = _total_bytes(self._index.values())
        while len(self._index) > 1 and (len(self._index) > self.max_results or total > self.max_bytes):
            oldest = next(iter(self._index))
            total -= _total_bytes([self._index[oldest]])
            log.info("store full: removing result %s, the oldest", oldest)
            self._remove(oldest)

    def _remove(self, result_id: str) -> None:
        self._index.pop(result_id, None)
        shutil.rmtree(self._results / result_id, ignore_errors=True)

    def _changed(self) -> None:
        self._pending_change.set()

    def _report_changes(self) -> None:
        assert self._on_change is not None
        while True:
            self._pending_change.wait()
            self._pending_change.clear()
            try:
                self._on_change()
            except Exception:  # the change is on disk; the next call will carry it
                log.exception("result store: on_change hook failed")


def public(record: dict) -> dict:
    """A record as anyone may see it: without the owner secret's hash."""
    return {k: v for k, v in record.items() if k != "owner_hash"}


def _load_record(folder: Path) -> dict | None:
    """A result folder's record, if it is a well-formed one; anything else is never served."""
    try:
        record = json.loads((folder / "record.json").read_text())
        valid = (
            record["id"] == folder.name
            and isinstance(record["created_at"], (int, float))
            and isinstance(record["owner_hash"], str)
            and all(_FILE_NAME.match(f["name"]) and f["mime"] in MEDIA_TYPES for f in record["files"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if valid else None


def _total_bytes(records) -> int:
    return sum(f["bytes"] for r in records for f in r["files"])


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        _write_bytes(tmp, json.dumps(data, indent=2).encode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
