"""From the old layout (a folder and a record.json per result) to the index, on first open.

    <root>/results/<id>/record.json + media    →   a row in index.db + <root>/media/<id[:2]>/<id>-<name>
    <root>/incoming/                            →   removed (saves a crash cut short)

Each result's media are moved (renamed, same filesystem: no copy), its record inserted,
then its folder removed, a batch per transaction. It can be cut off at any point and
simply runs again on the next open: a media file already moved is not looked for again,
a record already inserted is skipped. Folders without a well-formed record were never
served by the old store either (crash leftovers, forgeries); they are removed, and logged.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from ui.store.database import Database, insert_result

log = logging.getLogger("atelier.store")

_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_BATCH = 500


def migrate_folder_store(root: Path, db: Database, media_file: Callable[[str, str], Path], media_types) -> int:
    """Move a folder store under `root` into `db`; returns how many results were migrated.
    `media_file` says where a result's file goes; `media_types` are the ones the store serves."""

    folders = root / "results"
    if not folders.is_dir():
        return 0
    records, skipped = [], 0
    for entry in os.scandir(folders):
        record = _load_record(Path(entry.path), media_types) if _ID.match(entry.name) else None
        if record is None:
            skipped += 1
        else:
            records.append(record)
    records.sort(key=lambda r: r["created_at"])  # oldest first: the index's order is insertion order
    for start in range(0, len(records), _BATCH):
        batch = records[start : start + _BATCH]
        with db.write() as conn:
            for record in batch:
                for f in record["files"]:
                    source, target = folders / record["id"] / f["name"], media_file(record["id"], f["name"])
                    if source.exists():
                        target.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(source, target)
                published, owner_hash = bool(record.get("published")), record["owner_hash"]
                if not conn.execute("SELECT 1 FROM results WHERE id = ?", (record["id"],)).fetchone():
                    insert_result(conn, record, published=published, owner_hash=owner_hash)
        for record in batch:  # only once their rows are committed
            shutil.rmtree(folders / record["id"], ignore_errors=True)
    if skipped:
        log.warning("store migration: removed %d result folder(s) without a valid record (never served)", skipped)
    shutil.rmtree(folders, ignore_errors=True)
    shutil.rmtree(root / "incoming", ignore_errors=True)
    if records:
        log.info("store migration: %d result(s) moved from folders into %s", len(records), db.path)
    return len(records)


def _load_record(folder: Path, media_types) -> dict | None:
    """A result folder's record, if it is a well-formed one; anything else was never served."""
    try:
        record = json.loads((folder / "record.json").read_text())
        valid = (
            record["id"] == folder.name
            and isinstance(record["created_at"], (int, float))
            and isinstance(record["owner_hash"], str)
            and all(_FILE_NAME.match(f["name"]) and f["mime"] in media_types and isinstance(f["bytes"], int)
                    for f in record["files"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if valid else None
