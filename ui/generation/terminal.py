"""A generation from a terminal: a progress bar on stderr, the files copied to a folder.

`atelier generate` (ui/cli.py) and `modal run app.py` both end here. The result is saved
in the result store first, as every generation is, so it can be shared like any other.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from pathlib import Path

from models.common.events import ProgressEvent
from models.requests import Job, parse
from ui.errors import GenerationError
from ui.gate import Ticket
from ui.generation.backend import Backend
from ui.generation.events import QueuedEvent, SavedEvent
from ui.generation.flow import generate
from ui.store import ResultStore


def generate_and_save(
    backend: Backend, kind: str, fields: dict, out_dir: Path, store: ResultStore | None = None
) -> list[Path]:
    """Run one generation with a progress bar on stderr; save it in the result store, as every
    generation is, and copy its files and record to out_dir."""
    store = store or ResultStore()
    job = backend.resolve(parse(kind, {k: v for k, v in fields.items() if v is not None}))
    saved = asyncio.run(_collect(backend, store, job))
    record = saved["record"]
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{job.seed}"
    written = []
    for i, f in enumerate(record["files"]):
        suffix = Path(f["name"]).suffix
        path = out_dir / (f"{stem}{suffix}" if len(record["files"]) == 1 else f"{stem}-{i}{suffix}")
        shutil.copyfile(store.media_path(record["id"], f["name"])[0], path)
        written.append(path)
    record_path = out_dir / f"{stem}.json"
    record_path.write_text(json.dumps(record, indent=2))
    for path in written:
        print(path)
    print(record_path)
    # For whoever ran the command (the result's owner): the token that publishes or deletes it.
    print(f"saved as result {record['id']}; owner token {saved['owner_token']}", file=sys.stderr)
    if (adapter := record.get("adapter")) is not None:  # a training's: in the library now
        print(f"adapter {adapter['id']} is in the library: use it with --lora {adapter['id']}:1 and "
              f"'{adapter['trigger']}' in the prompt", file=sys.stderr)
    return written


async def _collect(backend: Backend, store: ResultStore, job: Job) -> SavedEvent:
    bar = ProgressBar()
    async for event in generate(backend, store, job, Ticket.local()):  # the machine's own user: no limits
        if event["type"] == "saved":
            bar.close()
            return event
        bar.show(event)
    raise GenerationError("The model stopped without a result.")


class ProgressBar:
    """A one-line progress bar on stderr; silent when stderr is not a terminal."""

    def __init__(self, width: int = 30):
        self.width = width
        self.started = time.monotonic()
        self.enabled = sys.stderr.isatty()

    def show(self, event: QueuedEvent | ProgressEvent) -> None:
        if not self.enabled:
            return
        if event["type"] == "queued":
            text = "waiting for the model" + (f" (position {event['position']})" if event.get("position") else "")
        else:
            done, total = event["done"], max(event["total"], 1)
            filled = int(self.width * done / total)
            text = f"{event['stage']:<10} [{'#' * filled}{'.' * (self.width - filled)}] {100 * done // total:3d}%"
            if "loss" in event:  # a training's step: its loss, and time left once a step has been timed
                left = event.get("eta_s")
                text += f"  loss {event['loss']:.4f}" + (f"  {left:.0f}s left" if left is not None else "")
            if "estimate" in event:  # said once, early, on a line of its own
                sys.stderr.write(f"\rabout {event['estimate']['seconds']:.0f} s in all: {event['estimate']['basis']}\n")
        sys.stderr.write(f"\r{text}  {time.monotonic() - self.started:5.1f}s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
