"""Nothing of one visitor's is lost to another's: what the store's caps remove first (ui/store/eviction.py),
each visitor's own cap, and an index from before visitors were kept."""

from __future__ import annotations

import sqlite3
import time

import pytest

from ui.store import ResultStore
from ui.store import database as db_module
from ui.store.eviction import PROTECTED_AGE_S


def result(kind: str = "image") -> dict:
    return {"files": [{"name": "image-0.png", "mime": "image/png", "data": b"x" * 100}], "record": {"kind": kind}}


def save(store: ResultStore, visitor: str | None, age_s: float = 0.0, monkeypatch=None) -> str:
    """A result saved `age_s` ago (the store's clock set back for the save) by `visitor`."""
    if age_s:
        monkeypatch.setattr(time, "time", lambda real=time.time: real() - age_s)
    try:
        return store.save(result(), visitor).record["id"]
    finally:
        if age_s:
            monkeypatch.undo()


def kept(store: ResultStore) -> set[str]:
    return {r["id"] for r in store.list(published_only=False, limit=100)}


def test_a_stranger_s_flood_takes_old_unpublished_results_first_and_never_published_ones(store, monkeypatch):
    """The issue's case: 25 tokenless results in a store capped at 20 evicted a token holder's
    published result. Now old unpublished results go first, then young unpublished ones."""
    capped = ResultStore(store.root.parent / "capped", max_results=4, max_per_visitor=100)
    old = [save(capped, "someone", 3 * PROTECTED_AGE_S, monkeypatch) for _ in range(2)]
    published = save(capped, "token-holder", 2 * PROTECTED_AGE_S, monkeypatch)
    capped.db.conn.execute("UPDATE results SET published = 1 WHERE id = ?", (published,))
    young = save(capped, "someone")
    flood = []
    for n in range(25):
        flood.append(save(capped, "stranger"))
        if n == 1:
            assert kept(capped) == {published, young, *flood}  # the two old unpublished went first
        if n == 2:
            assert young not in kept(capped)  # then the young unpublished, oldest first
        assert published in kept(capped)
    assert kept(capped) == {published, *flood[-3:]}
    assert not set(old) & kept(capped)


def test_published_results_go_only_when_nothing_unpublished_is_left(store):
    capped = ResultStore(store.root.parent / "capped", max_results=2, max_per_visitor=100)
    first, second = save(capped, "a"), save(capped, "b")
    for rid in (first, second):
        capped.db.conn.execute("UPDATE results SET published = 1 WHERE id = ?", (rid,))
    third = save(capped, "c")  # over the cap with only published results left: the oldest of them goes
    assert kept(capped) == {second, third}


def test_each_visitor_has_a_cap_of_their_own_and_loses_their_own_oldest(store):
    capped = ResultStore(store.root.parent / "capped", max_results=100, max_per_visitor=3)
    others = [save(capped, "other") for _ in range(2)]
    mine = [save(capped, "me") for _ in range(3)]
    capped.db.conn.execute("UPDATE results SET published = 1 WHERE id = ?", (mine[0],))
    mine.append(save(capped, "me"))  # fourth: my oldest unpublished goes, not my published one
    assert kept(capped) == {*others, mine[0], mine[2], mine[3]}
    for _ in range(5):
        save(capped, "me")
    assert others[0] in kept(capped) and others[1] in kept(capped)
    assert len([r for r in capped.db.query("SELECT id FROM results WHERE visitor = 'me'")]) == 3
    for _ in range(5):
        save(capped, None)  # the command line's own results: no cap of their own
    assert len(capped) == 2 + 3 + 5


def test_an_index_from_before_visitors_gains_their_column_and_keeps_its_results(tmp_path):
    root = tmp_path / "old-store"
    (root / "media").mkdir(parents=True)
    old_schema = db_module.SCHEMA.replace(
        ",\n    visitor     TEXT NOT NULL DEFAULT ''  -- who made it (a digest: ui/gate/visitors.py); '' = the machine's user",
        "").replace("CREATE INDEX IF NOT EXISTS results_visitor ON results (visitor, published);", "")
    assert "visitor     TEXT" not in old_schema and "ON results (visitor" not in old_schema
    conn = sqlite3.connect(root / "index.db")
    conn.executescript(f"{old_schema}PRAGMA user_version=1;")
    conn.execute("INSERT INTO results (id, kind, published, bytes, created_at, prompt, owner_hash, record) "
                 "VALUES ('AAAAAAAAAAAAAAAA', 'image', 1, 0, 1.0, 'an old fox', 'h', ?)",
                 ('{"id": "AAAAAAAAAAAAAAAA", "kind": "image", "files": []}',))
    conn.commit()
    conn.close()
    upgraded = ResultStore(root, max_results=10, max_per_visitor=2)
    assert upgraded.db.query("PRAGMA user_version")[0][0] == db_module.SCHEMA_VERSION
    assert upgraded.get("AAAAAAAAAAAAAAAA")["published"] is True
    assert [r["id"] for r in upgraded.list(search="fox")] == ["AAAAAAAAAAAAAAAA"]
    for _ in range(3):
        save(upgraded, "new")
    assert "AAAAAAAAAAAAAAAA" in kept(upgraded) and len(upgraded) == 3
    ResultStore(root)  # opening it again finds nothing to do


@pytest.mark.parametrize("visitor", ["me", None])
def test_a_save_over_its_maker_s_cap_keeps_the_one_just_saved(store, visitor):
    capped = ResultStore(store.root.parent / "capped", max_results=1, max_per_visitor=1)
    ids = [save(capped, visitor) for _ in range(3)]
    assert kept(capped) == {ids[-1]}
