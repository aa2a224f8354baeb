"""A visitor's session in the studio: their recent results, and sharing one.

A `History` lives in the visitor's gr.State, so it stays on the server and belongs to one
page load. It holds each result's owner token, the secret that publishes or deletes it:
the token reaches the browser only when its owner shares the result (for the permalink
page's unpublish/delete), never anyone else, and never a log.

The image and music tabs may finish in any order in the same session, so they add to one
`History` object in place rather than each returning a copy (which would drop the other's
entry).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import gradio as gr

from ui.errors import NotAllowed, NotFound
from ui.store import ResultStore
from ui.urls import media_path

HISTORY_SIZE = 24  # per visitor; older entries drop off (the results stay in the store)


@dataclass
class Entry:
    record: dict  # the public record (ui.store.public)
    owner_token: str

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def kind(self) -> str:
        return self.record["kind"]


@dataclass
class History:
    entries: list[Entry] = field(default_factory=list)  # newest first

    def add(self, entry: Entry) -> None:
        self.entries.insert(0, entry)
        del self.entries[HISTORY_SIZE:]

    def find(self, result_id: str | None) -> Entry | None:
        return next((e for e in self.entries if e.id == result_id), None)

    def view(self) -> list[dict]:
        """What the history strip shows: public fields only (no owner token)."""
        return [
            {
                "id": e.id,
                "kind": e.kind,
                "prompt": e.record["parameters"]["prompt"],
                "thumb": thumb_url(e.record),
                "seconds": e.record.get("audio", {}).get("seconds") or e.record.get("duration"),
                "seed": e.record["seed"],
                "preset": e.record["parameters"]["preset"],
                "published": e.record.get("published", False),
            }
            for e in self.entries
        ]


def media_url(record: dict, index: int = 0) -> str:
    """The store's own URL for one of a result's files."""
    return media_path(record["id"], record["files"][index]["name"])


def thumb_url(record: dict) -> str | None:
    """An image's first picture, a video's poster; none for music (the strip draws a wave)."""
    pictures = [i for i, f in enumerate(record["files"]) if f["mime"].startswith("image/")]
    return media_url(record, pictures[0]) if pictures else None


def owner_key(entry: Entry) -> dict:
    """What the owner's browser keeps (localStorage "atelier.owner.<id>") to manage a shared result."""
    return {"id": entry.id, "token": entry.owner_token}


async def publish(store: ResultStore, history: History, result_id: str | None) -> Entry:
    """Publish one of this visitor's results; a gr.Error when there is nothing (left) to share."""
    entry = history.find(result_id)
    if entry is None:
        raise gr.Error("Make something first, then share it.", title="Nothing to share", print_exception=False)
    try:
        entry.record = await asyncio.to_thread(store.set_published, entry.id, entry.owner_token, True)
    except NotFound:
        raise gr.Error("This result no longer exists: it was deleted.", print_exception=False) from None
    except NotAllowed as e:  # the safety checker flagged it, or the site's owner hid it: the sentence says which
        raise gr.Error(str(e), title="This one can't be shared", print_exception=False) from None
    return entry
