"""The result store: its index, files written once, id checks, limits and cleanup, owner secrets,
other processes, search and paging, the working copy a Modal Volume needs, and the migration
from the folder-per-result layout."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from ui.errors import Forbidden, NotFound
from ui.settings import parse_size
from ui.store import ResultStore

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def result(n_bytes: int = 100, name: str = "image-0.png", mime: str = "image/png", kind: str = "image") -> dict:
    return {"files": [{"name": name, "mime": mime, "data": b"x" * n_bytes}], "record": {"kind": kind, "seed": 1}}


def media_files(store: ResultStore) -> list[Path]:
    return sorted(p for p in (store.root / "media").rglob("*") if p.is_file())


def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- saving and reading ------------------------------------------------------------------------


def test_a_saved_result_is_readable_with_its_files_and_no_owner_secret(store):
    saved = store.save({"files": [{"name": "image-0.png", "mime": "image/png", "data": PNG}], "record": {"kind": "image"}})
    record = store.get(saved.record["id"])
    assert record == saved.record and "owner_hash" not in record
    assert record["files"] == [{"name": "image-0.png", "mime": "image/png", "bytes": len(PNG)}]
    path, mime = store.media_path(record["id"], "image-0.png")
    assert path.read_bytes() == PNG and mime == "image/png"
    assert path.resolve().is_relative_to(store.root.resolve())
    assert store.save(result()).record["id"] != record["id"]


def test_the_owner_secret_is_stored_only_as_a_hash(store):
    saved = store.save(result())
    store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into index.db, to read it all
    on_disk = b"".join(p.read_bytes() for p in store.root.rglob("*") if p.is_file())
    assert saved.owner_token.encode() not in on_disk
    [stored] = store.db.query("SELECT owner_hash, record FROM results")
    assert len(stored["owner_hash"]) == 64 and stored["owner_hash"].encode() in on_disk
    assert "owner" not in stored["record"]


@pytest.mark.parametrize(
    "bad_id", ["../results", "..%2f..%2fetc", "", "a" * 15, "a" * 17, "AAAAAAAAAAAAAAA/", "AAAAAAAAAAAAAAAA", None, 12, "."]
)
def test_unknown_and_malformed_ids_are_not_found(store, bad_id):
    store.save(result())
    with pytest.raises(NotFound):
        store.get(bad_id)
    with pytest.raises(NotFound):
        store.media_path(bad_id, "image-0.png")


def test_only_files_the_record_lists_are_resolved(store):
    rid = store.save(result()).record["id"]
    for name in ["record.json", "../record.json", "image-1.png", "", "/etc/passwd", "image-0.png/../record.json"]:
        with pytest.raises(NotFound):
            store.media_path(rid, name)


@pytest.mark.parametrize(
    "files",
    [
        [{"name": "../escape.png", "mime": "image/png", "data": b"x"}],
        [{"name": "record.json", "mime": "image/png", "data": b"x"}],
        [{"name": "page.html", "mime": "text/html", "data": b"<script>alert(1)</script>"}],
        [{"name": "image.svg", "mime": "image/svg+xml", "data": b"<svg/>"}],
        [{"name": "image-0.png", "mime": "image/png", "data": b"x"}, {"name": ".hidden", "mime": "image/png", "data": b"x"}],
    ],
)
def test_a_result_with_unsafe_files_is_refused_whole(store, files):
    with pytest.raises(ValueError):
        store.save({"files": files, "record": {"kind": "image"}})
    assert len(store) == 0 and media_files(store) == []
    assert store.db.query("SELECT * FROM loose") == []


# --- files written once, records only in the index --------------------------------------------------


def test_a_result_costs_only_its_media_files(store):
    store.save(result())
    before = {p for p in store.root.rglob("*")}
    saved = store.save({"files": [{"name": "image-0.png", "mime": "image/png", "data": PNG},
                                  {"name": "image-1.png", "mime": "image/png", "data": PNG}], "record": {"kind": "image"}})
    created = {p for p in store.root.rglob("*")} - before
    rid = saved.record["id"]
    shard = store.root / "media" / rid[:2]
    assert created - {shard} == {shard / f"{rid}-image-0.png", shard / f"{rid}-image-1.png"}  # + its shard, once


def test_a_save_that_fails_midway_leaves_nothing_behind(store, monkeypatch):
    import ui.store.results as results

    real_write, writes = results._write_bytes, []

    def crash_on_second(path, data):
        writes.append(path)
        if len(writes) == 2:
            raise OSError("disk full (simulated)")
        real_write(path, data)

    monkeypatch.setattr(results, "_write_bytes", crash_on_second)
    two = {"files": [{"name": "a.png", "mime": "image/png", "data": b"x"}, {"name": "b.png", "mime": "image/png", "data": b"y"}],
           "record": {"kind": "image"}}
    with pytest.raises(OSError):
        store.save(two)
    assert len(store) == 0 and media_files(store) == [] and store.db.query("SELECT * FROM loose") == []


def test_a_save_cut_off_by_a_crash_is_never_visible_and_is_cleaned_on_the_next_open(tmp_path):
    root = tmp_path / "store"
    first = ResultStore(root)
    kept = first.save(result()).record["id"]
    # What a save leaves when the process dies after writing files, before the record goes in.
    now = time.time()
    for rid, since in (("AAAAAAAAAAAAAAAA", now - 2 * 3600), ("BBBBBBBBBBBBBBBB", now)):
        with first.db.write() as db:
            db.execute("INSERT INTO loose VALUES (?, ?)", (rid, since))
        (root / "media" / rid[:2]).mkdir(exist_ok=True)
        (root / "media" / rid[:2] / f"{rid}-image-0.png").write_bytes(b"half a pic")
    for rid in ("AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB"):
        with pytest.raises(NotFound):
            first.media_path(rid, "image-0.png")

    second = ResultStore(root)
    assert [r["id"] for r in second.list(published_only=False)] == [kept]
    assert not (root / "media" / "AA" / "AAAAAAAAAAAAAAAA-image-0.png").exists()  # stale: cleaned
    assert (root / "media" / "BB" / "BBBBBBBBBBBBBBBB-image-0.png").exists()  # perhaps another process, writing now
    assert [r["id"] for r in second.db.query("SELECT id FROM loose")] == ["BBBBBBBBBBBBBBBB"]


def test_media_files_are_never_overwritten(store, monkeypatch):
    import secrets

    first = store.save(result(name="image-0.png")).record["id"]
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: first if n == 12 else "t" * 32)  # the same id again
    with pytest.raises(Exception):
        store.save(result(name="image-0.png"))
    monkeypatch.undo()
    assert store.media_path(first, "image-0.png")[0].read_bytes() == b"x" * 100


# --- limits -------------------------------------------------------------------------------------


def test_the_oldest_results_go_first_when_the_count_is_over(tmp_path):
    store = ResultStore(tmp_path, max_results=3)
    ids = [store.save(result()).record["id"] for _ in range(5)]
    assert [r["id"] for r in store.list(published_only=False)] == ids[:1:-1]
    assert sorted(p.name[:16] for p in media_files(store)) == sorted(ids[2:])
    assert store.usage()["results"] == 3


def test_the_oldest_results_go_first_when_the_size_is_over_but_never_the_newest(tmp_path):
    store = ResultStore(tmp_path, max_bytes=250)
    a = store.save(result(100)).record["id"]
    b = store.save(result(100)).record["id"]
    c = store.save(result(100)).record["id"]  # 300 bytes: a goes
    assert {r["id"] for r in store.list(published_only=False)} == {b, c}
    big = store.save(result(1000)).record["id"]  # over the limit alone: kept, everything else goes
    assert [r["id"] for r in store.list(published_only=False)] == [big]
    assert store.usage() == {"results": 1, "bytes": 1000, "max_results": store.limits.count, "max_bytes": 250}
    assert not any(p.name.startswith(a) for p in media_files(store))


def test_limits_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ATELIER_RESULTS_MAX_COUNT", "2")
    monkeypatch.setenv("ATELIER_RESULTS_MAX_SIZE", "3M")
    store = ResultStore(tmp_path)
    assert (store.limits.count, store.limits.bytes) == (2, 3 * 2**20)
    monkeypatch.setenv("ATELIER_RESULTS_MAX_SIZE", "lots")
    with pytest.raises(ValueError, match="500M or 20G"):
        ResultStore(tmp_path)


def test_sizes_parse():
    assert [parse_size(s) for s in ["123", "1K", "64k", "2M", "20G", "1T", "5MiB", "7 GB"]] == [
        123, 1024, 65536, 2 * 2**20, 20 * 2**30, 2**40, 5 * 2**20, 7 * 2**30]
    for bad in ["", "-1", "1.5G", "1P", "M"]:
        with pytest.raises(ValueError):
            parse_size(bad)


# --- owners -------------------------------------------------------------------------------------


def test_only_the_owner_can_publish_unpublish_or_delete(store):
    saved = store.save(result())
    rid = saved.record["id"]
    for token in [None, "", "wrong", saved.owner_token + "x"]:
        assert not store.is_owner(rid, token)
        with pytest.raises(Forbidden):
            store.set_published(rid, token, True)
        with pytest.raises(Forbidden):
            store.delete(rid, token)
    assert store.is_owner(rid, saved.owner_token)
    assert store.set_published(rid, saved.owner_token, True)["published"] is True
    assert [r["id"] for r in store.list()] == [rid]
    assert store.set_published(rid, saved.owner_token, False)["published"] is False
    assert store.list() == []
    store.delete(rid, saved.owner_token)
    assert media_files(store) == []
    with pytest.raises(NotFound):
        store.get(rid)
    with pytest.raises(NotFound):  # a deleted result is unknown, even to its owner
        store.delete(rid, saved.owner_token)


def test_ownership_can_be_handed_to_another_secret(store):
    saved = store.save(result())
    rid = saved.record["id"]
    with pytest.raises(Forbidden):
        store.set_owner_token(rid, "wrong", "new-secret")
    store.set_owner_token(rid, saved.owner_token, "new-secret")
    assert store.is_owner(rid, "new-secret") and not store.is_owner(rid, saved.owner_token)


def test_deleting_while_publishing_never_brings_a_result_back(store):
    for _ in range(30):
        saved = store.save(result())
        rid, token = saved.record["id"], saved.owner_token
        errors = []

        def publish():
            try:
                store.set_published(rid, token, True)
            except NotFound:
                pass
            except Exception as e:  # pragma: no cover - what the test is looking for
                errors.append(e)

        threads = [threading.Thread(target=publish) for _ in range(3)] + [threading.Thread(target=store.delete, args=(rid, token))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with pytest.raises(NotFound):
            store.get(rid)
        assert not any(p.name.startswith(rid) for p in media_files(store))


# --- listing, other processes, change hook --------------------------------------------------------


def test_listing_filters_by_kind_and_pages_newest_first(store):
    made = []
    for i in range(5):
        saved = store.save(result(kind="image" if i % 2 else "music", name="a.png" if i % 2 else "music.wav",
                                  mime="image/png" if i % 2 else "audio/wav"))
        store.set_published(saved.record["id"], saved.owner_token, True)
        made.append(saved.record)
    unlisted = store.save(result()).record["id"]
    newest_first = [r["id"] for r in reversed(made)]
    assert [r["id"] for r in store.list()] == newest_first
    assert [r["id"] for r in store.list(kind="music")] == [r["id"] for r in reversed(made) if r["kind"] == "music"]
    page1 = store.list(limit=2)
    page2 = store.list(limit=2, before=page1[-1]["id"])
    assert [r["id"] for r in page1 + page2] == newest_first[:4]
    assert store.list(before="not-an-id") == []
    assert unlisted not in [r["id"] for r in store.list()] and store.get(unlisted)


def test_results_saved_or_deleted_by_another_process_are_seen_without_a_restart(tmp_path):
    server, cli = ResultStore(tmp_path), ResultStore(tmp_path)  # e.g. the studio and `atelier generate`
    saved = cli.save(result())
    assert server.get(saved.record["id"])["id"] == saved.record["id"]
    cli.set_published(saved.record["id"], saved.owner_token, True)
    other = cli.save(result())
    assert other.record["id"] in [r["id"] for r in server.list(published_only=False)]
    cli.delete(other.record["id"], other.owner_token)
    assert other.record["id"] not in [r["id"] for r in server.list(published_only=False)]


def test_changes_are_reported_to_the_hook_even_when_it_fails(tmp_path):
    calls = []

    def hook():
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("volume commit failed (simulated)")

    store = ResultStore(tmp_path, on_change=hook, sync_interval_s=0)
    saved = store.save(result())  # the hook failing does not fail the save
    assert wait_until(lambda: len(calls) >= 1)
    store.set_published(saved.record["id"], saved.owner_token, True)
    assert wait_until(lambda: len(calls) >= 2)
    store.delete(saved.record["id"], saved.owner_token)
    assert wait_until(lambda: len(calls) >= 3)


# --- the CLI saves into the store too -----------------------------------------------------------------


def test_atelier_generate_writes_the_output_and_saves_in_the_store(tmp_path, capsys):
    from ui.cli import main

    assert main(["generate", "image", "a small fox", "--preset", "tiny", "--steps", "2", "--seed", "7",
                 "--output", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    png, record_path = [Path(line) for line in out.split()]
    record = json.loads(record_path.read_text())
    store = ResultStore()  # the default store (ATELIER_RESULTS, set by the test fixtures)
    assert store.get(record["id"])["seed"] == 7
    assert png.read_bytes() == store.media_path(record["id"], "image-0.png")[0].read_bytes()
    token = err.split("owner token ")[1].split()[0]
    assert store.is_owner(record["id"], token)


# --- the index: search, keyset paging, settings ----------------------------------------------------


def prompted(prompt: str, kind: str = "image") -> dict:
    return {"files": [{"name": "image-0.png", "mime": "image/png", "data": b"x"}],
            "record": {"kind": kind, "parameters": {"prompt": prompt}}}


def test_search_finds_prompts_by_whole_words_and_ignores_query_syntax(store):
    ids = {}
    for prompt in ["A watercolor fox in the snow", "lofi beat, warm piano", "Café au lait, fox-like", "owl"]:
        saved = store.save(prompted(prompt))
        store.set_published(saved.record["id"], saved.owner_token, True)
        ids[prompt] = saved.record["id"]

    def found(text, **kw):
        return {r["parameters"]["prompt"] for r in store.list(search=text, **kw)}

    assert found("fox") == {"A watercolor fox in the snow", "Café au lait, fox-like"}
    assert found("FOX snow") == {"A watercolor fox in the snow"}  # every word, any case
    assert found("watercolor") == {"A watercolor fox in the snow"} and found("water") == set()  # whole words
    assert found("cafe") == {"Café au lait, fox-like"}  # accents folded
    assert found("wolf") == set()
    for hostile in ['"', "fox OR owl", "NEAR(fox owl)", "prompt:fox", "*", "fox\")--", "^fox", "-fox"]:
        found(hostile)  # never an FTS5 syntax error
    assert found("fox OR owl") == set()  # words, not operators: no prompt has "or" in it
    assert found("   ") == found("") == set(ids)  # nothing to look for: everything
    assert found("fox", limit=1) == {"Café au lait, fox-like"}  # newest first
    assert found("fox", before=ids["Café au lait, fox-like"]) == {"A watercolor fox in the snow"}


def test_keyset_pages_stay_put_while_new_results_arrive(store):
    for i in range(5):
        saved = store.save(prompted(f"number {i}"))
        store.set_published(saved.record["id"], saved.owner_token, True)
    page1 = store.list(limit=2)
    newer = store.save(prompted("newer"))
    store.set_published(newer.record["id"], newer.owner_token, True)
    page2 = store.list(limit=2, before=page1[-1]["id"])
    assert [r["parameters"]["prompt"] for r in page1 + page2] == [f"number {i}" for i in (4, 3, 2, 1)]
    plan = " ".join(r["detail"] for r in store.db.query(
        "EXPLAIN QUERY PLAN SELECT * FROM results WHERE published = 1 AND seq < 5 ORDER BY seq DESC LIMIT 25"))
    assert "USING INDEX" in plan and "TEMP B-TREE" not in plan  # an index walk, no sort of everything
    searched = store.list(search="number", limit=2)
    assert [r["parameters"]["prompt"] for r in searched] == ["number 4", "number 3"]
    assert [r["parameters"]["prompt"] for r in store.list(search="number", limit=9, before=searched[-1]["id"])] == [
        "number 2", "number 1", "number 0"]


def test_the_index_is_in_wal_mode_and_its_location_is_a_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("ATELIER_RESULTS", str(tmp_path / "store"))
    monkeypatch.setenv("ATELIER_RESULTS_DB", str(tmp_path / "elsewhere" / "atelier.db"))
    store = ResultStore()
    store.save(result())
    assert (tmp_path / "elsewhere" / "atelier.db").exists() and not (tmp_path / "store" / "index.db").exists()
    assert store.db.query("PRAGMA journal_mode")[0][0] == "wal"
    monkeypatch.setenv("ATELIER_RESULTS_DB", "postgresql://db.example/atelier")
    with pytest.raises(ValueError, match="not supported yet"):
        ResultStore()
    monkeypatch.delenv("ATELIER_RESULTS_DB")
    monkeypatch.setenv("ATELIER_RESULTS_SYNC_INTERVAL", "soon")
    with pytest.raises(ValueError, match="ATELIER_RESULTS_SYNC_INTERVAL"):
        ResultStore()


# --- the working copy a Modal Volume needs ---------------------------------------------------------------


def test_a_working_copy_is_snapshotted_to_the_store_in_batches_and_restored_by_the_next_container(tmp_path):
    volume, commits = tmp_path / "volume", []
    first = ResultStore(volume, working_copy=tmp_path / "container-1" / "index.db", on_change=lambda: commits.append(1),
                        sync_interval_s=0.3)
    saved = [first.save(result()) for _ in range(5)]
    first.set_published(saved[0].record["id"], saved[0].owner_token, True)
    assert wait_until(lambda: len(commits) >= 1)
    time.sleep(0.5)
    assert len(commits) == 1 and first.snapshots == 1  # six changes, one snapshot and one commit
    snapshot = volume / "index.db"
    assert snapshot.exists() and not (volume / "index.db-wal").exists()  # one file on the Volume
    assert {p.name for p in volume.iterdir()} == {"index.db", "media"}
    later = first.save(result()).record["id"]
    first.close()  # shutdown writes what is pending
    assert len(commits) == 2

    second = ResultStore(volume, working_copy=tmp_path / "container-2" / "index.db", on_change=lambda: None)
    assert len(second) == 6 and second.get(later) and second.get(saved[0].record["id"])["published"] is True
    assert second.media_path(later, "image-0.png")[0].read_bytes() == b"x" * 100
    second.close()


def test_the_snapshot_on_the_volume_is_always_a_whole_database(tmp_path):
    import sqlite3

    volume = tmp_path / "volume"
    store = ResultStore(volume, working_copy=tmp_path / "local.db", sync_interval_s=0)
    for _ in range(3):
        store.save(result())
        store.sync()
        copy = sqlite3.connect(volume / "index.db")
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copy.close()
    store.close()  # the background sync, too, has finished
    assert not [p for p in volume.iterdir() if p.name.endswith(".tmp")]
    store.close()


# --- migrating a folder store ---------------------------------------------------------------------------


def write_folder_result(root: Path, rid: str, created_at: float, published: bool, prompt: str) -> None:
    folder = root / "results" / rid
    folder.mkdir(parents=True)
    (folder / "image-0.png").write_bytes(PNG)
    record = {"kind": "image", "parameters": {"prompt": prompt}, "seed": 3, "id": rid, "created_at": created_at,
              "files": [{"name": "image-0.png", "mime": "image/png", "bytes": len(PNG)}], "published": published,
              "owner_hash": hashlib.sha256(f"token-{rid}".encode()).hexdigest()}
    (folder / "record.json").write_text(json.dumps(record))


def test_a_folder_store_is_migrated_on_first_open(tmp_path):
    root = tmp_path / "store"
    ids = [f"{c}" * 16 for c in "ABCDE"]
    for i, rid in enumerate(ids):
        write_folder_result(root, rid, created_at=1000.0 + i, published=i % 2 == 0, prompt=f"fox number {i}")
    (root / "results" / "FFFFFFFFFFFFFFFF").mkdir()  # a crash leftover, never served
    (root / "incoming" / "GGGGGGGGGGGGGGGG").mkdir(parents=True)

    store = ResultStore(root)
    assert not (root / "results").exists() and not (root / "incoming").exists()
    assert [r["id"] for r in store.list(published_only=False)] == ids[::-1]  # the old order, newest first
    assert [r["id"] for r in store.list()] == [ids[4], ids[2], ids[0]]
    assert [r["id"] for r in store.list(search="number 3", published_only=False)] == [ids[3]]
    record = store.get(ids[1])
    assert record["seed"] == 3 and record["created_at"] == 1001.0 and record["published"] is False
    assert store.media_path(ids[1], "image-0.png")[0].read_bytes() == PNG
    assert store.is_owner(ids[1], f"token-{ids[1]}")
    assert len(media_files(store)) == 5 and store.usage()["bytes"] == 5 * len(PNG)
    assert [r["id"] for r in ResultStore(root).list(published_only=False)] == ids[::-1]  # once only


def test_a_migration_cut_off_midway_finishes_on_the_next_open(tmp_path):
    root = tmp_path / "store"
    ids = [f"{c}" * 16 for c in "ABC"]
    for i, rid in enumerate(ids):
        write_folder_result(root, rid, created_at=1000.0 + i, published=True, prompt="owl")
    # As if the first try moved A's media and committed its row, then died before removing its folder.
    from ui.store.database import Database, insert_result

    db = Database(root / "index.db")
    (root / "media" / "AA").mkdir(parents=True)
    os.replace(root / "results" / ids[0] / "image-0.png", root / "media" / "AA" / f"{ids[0]}-image-0.png")
    with db.write() as conn:
        insert_result(conn, {**json.loads((root / "results" / ids[0] / "record.json").read_text())}, published=True,
                      owner_hash="x" * 64)
    db.close()

    store = ResultStore(root)
    assert [r["id"] for r in store.list()] == ids[::-1] and len(store) == 3
    assert all(store.media_path(rid, "image-0.png")[0].read_bytes() == PNG for rid in ids)


def test_a_result_from_atelier_generate_in_another_process_shows_up_in_an_open_store(tmp_path):
    """The studio holds its store open while `atelier generate` (a separate process) saves into
    the same folder: SQLite's locking shares the index, and the next query sees the result."""
    import subprocess
    import sys

    root = tmp_path / "shared"
    studio_side = ResultStore(root)
    before = studio_side.save(result()).record["id"]  # the studio has the index open (WAL) already
    out = subprocess.run(
        [sys.executable, "-m", "ui.cli", "generate", "image", "a heron at dawn", "--preset", "tiny", "--steps", "2",
         "--seed", "3", "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "ATELIER_RESULTS": str(root)},
    )
    assert out.returncode == 0, out.stderr
    rid = out.stderr.split("saved as result ")[1].split(";")[0]
    token = out.stderr.split("owner token ")[1].split()[0]
    assert studio_side.get(rid)["seed"] == 3
    assert [r["id"] for r in studio_side.list(published_only=False)] == [rid, before]
    studio_side.set_published(rid, token, True)  # the studio side can act on it, with its owner's token
    assert [r["id"] for r in studio_side.list(search="heron")] == [rid]
    assert len(studio_side) == 2
