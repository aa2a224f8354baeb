"""The result store: every generation's files and its JSON record, in one folder.

    <root>/results/<id>/record.json      prompt, parameters, seed, model, timings, files, ...
    <root>/results/<id>/image-0.png      the media, named as the model named them
    <root>/incoming/                     results being written (renamed into results/ whole)

A local folder by default (ATELIER_RESULTS, else ~/.cache/atelier/results); on Modal a
Volume mounted in the web container, committed after each change. Writes are atomic: a
result's folder is written beside the store and renamed into place, a record is replaced
with os.replace. Ids are random and checked against one pattern before any path is built,
and media are only served when the record lists them, so nothing outside the store is
reachable. An in-memory index, built once at start, answers lookups and listings without
scanning the folder per request.

Each result has an owner secret, returned once when it is saved and kept only as a hash:
whoever holds it can publish, unpublish or delete. Unpublished results are private in the
sense of unlisted: reachable by id, never shown in listings of published work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.presets import atelier_home

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def default_root() -> Path:
    return Path(os.environ.get("ATELIER_RESULTS") or atelier_home() / "results")


class NotFound(KeyError):
    """No such result (or file): unknown, malformed or deleted id. Message is safe to show."""

    def __str__(self) -> str:
        return self.args[0] if self.args else "Not found."


class Forbidden(PermissionError):
    """The owner secret is missing or wrong."""


@dataclass(frozen=True)
class Saved:
    record: dict
    owner_token: str  # shown once to whoever made the result; only its hash is stored


class ResultStore:
    def __init__(
        self,
        root: Path | None = None,
        max_results: int = 10_000,
        max_bytes: int = 20 * 2**30,
        on_change: Callable[[], None] | None = None,
    ):
        self.root = Path(root or default_root())
        self.max_results = max_results
        self.max_bytes = max_bytes
        self._on_change = on_change  # e.g. commit a Modal Volume
        self._results = self.root / "results"
        self._incoming = self.root / "incoming"
        self._results.mkdir(parents=True, exist_ok=True)
        self._incoming.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._index: dict[str, dict] = {}  # id → record, oldest first (insertion order)
        self._load_index()

    # --- writing --------------------------------------------------------------------------

    def save(self, result: dict) -> Saved:
        """Store a model's result event (files + record); returns the full record and owner secret."""
        result_id = secrets.token_urlsafe(12)
        owner_token = secrets.token_urlsafe(24)
        files = []
        staging = self._incoming / result_id
        staging.mkdir()
        try:
            for f in result["files"]:
                if not _FILE_NAME.match(f["name"]):
                    raise ValueError(f"unsafe file name from the model: {f['name']!r}")
                (staging / f["name"]).write_bytes(f["data"])
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

    def set_published(self, result_id: str, owner_token: str, published: bool) -> dict:
        record = self._owned(result_id, owner_token)
        updated = {**record, "published": published}
        _write_json(self._results / result_id / "record.json", updated)
        with self._lock:
            self._index[result_id] = updated
        self._changed()
        return public(updated)

    def delete(self, result_id: str, owner_token: str) -> None:
        self._owned(result_id, owner_token)
        with self._lock:
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

    def list(self, *, published_only: bool = True, kind: str | None = None, before: str | None = None, limit: int = 24) -> list[dict]:
        """Newest first. `before` is the id of the last result of the previous page."""
        with self._lock:
            records = list(self._index.values())
        records.reverse()
        if before is not None:
            ids = [r["id"] for r in records]
            records = records[ids.index(before) + 1 :] if before in ids else []
        picked = []
        for r in records:
            if (published_only and not r["published"]) or (kind and r["kind"] != kind):
                continue
            picked.append(public(r))
            if len(picked) >= limit:
                break
        return picked

    def __len__(self) -> int:
        return len(self._index)

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
        if record is None:
            raise NotFound("No result with that id.")
        return record

    def _owned(self, result_id: str, owner_token: str | None) -> dict:
        record = self._record(result_id)
        if not owner_token or not hmac.compare_digest(record["owner_hash"], _hash(owner_token)):
            raise Forbidden("Only the person who made this result can change it.")
        return record

    def _load_index(self) -> None:
        shutil.rmtree(self._incoming, ignore_errors=True)  # leftovers of a crash mid-write
        self._incoming.mkdir(parents=True, exist_ok=True)
        records = []
        for folder in self._results.iterdir():
            try:
                records.append(json.loads((folder / "record.json").read_text()))
            except (OSError, ValueError):
                continue  # not a result; never served
        for record in sorted(records, key=lambda r: r["created_at"]):
            self._index[record["id"]] = record

    def _enforce_limits(self) -> None:
        """Oldest first, drop results until both the count and the size fit. Lock held."""
        total = sum(f["bytes"] for r in self._index.values() for f in r["files"])
        while self._index and (len(self._index) > self.max_results or total > self.max_bytes):
            oldest = next(iter(self._index))
            total -= sum(f["bytes"] for f in self._index[oldest]["files"])
            self._remove(oldest)

    def _remove(self, result_id: str) -> None:
        self._index.pop(result_id, None)
        shutil.rmtree(self._results / result_id, ignore_errors=True)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()


def public(record: dict) -> dict:
    """A record as anyone may see it: without the owner secret's hash."""
    return {k: v for k, v in record.items() if k != "owner_hash"}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
