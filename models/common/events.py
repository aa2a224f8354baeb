"""The events a model's generation yields, each kind declared once, and the functions that make them.

A model class's `generate` yields progress events while it works, then one result event
(models/common/progress.py turns the models' step callbacks into this stream):

    {"type": "progress", "done": 3, "total": 8, "stage": "denoising"}
    {"type": "progress", ..., "preview": {"mime": "image/webp", "data": b"..."}}   (now and then)
    {"type": "result", "files": [{"name": ..., "mime": ..., "data": b"..."}], "record": {...}}

Each kind is a TypedDict whose `type` is a Literal: at run time an event is a plain dict, so it
pickles across Modal, travels in the audiocraft worker's JSON, and the web side passes it on as
it is, while a type checker knows a kind by its tag (and tests/test_event_kinds.py finds any
string compared with `["type"]` that names no kind). `progress_event` and `result_event` are the
only places these dicts are made. The web side adds its own kinds (ui/generation/events.py).

Web side too: no torch here.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class Preview(TypedDict):
    """What the result looks like so far: an image forming, a long clip's waveform."""

    mime: str
    data: bytes


class File(TypedDict):
    """One file of a result, as the result store saves it."""

    name: str
    mime: str
    data: bytes


class Estimate(TypedDict):
    seconds: float
    basis: str  # how it was reckoned, in a sentence: an extrapolation says so


class ProgressEvent(TypedDict):
    type: Literal["progress"]
    done: int
    total: int
    stage: str  # what the model is doing: "denoising", "composing"...
    preview: NotRequired[Preview]
    # A training's steps say more (models/training/session.py): this step's loss, the learning rate, the
    # seconds left at the recent pace (None until a step is timed), the checkpoint it resumed from (0:
    # none), once early an estimate of the whole, and the step of a checkpoint just written.
    loss: NotRequired[float]
    lr: NotRequired[float]
    eta_s: NotRequired[float | None]
    resumed_from: NotRequired[int]
    estimate: NotRequired[Estimate]
    checkpoint: NotRequired[int]


TRAINING_PROGRESS = ("loss", "lr", "eta_s", "resumed_from", "estimate", "checkpoint")  # the extra keys, as above


class ResultEvent(TypedDict):
    type: Literal["result"]
    files: list[File]
    record: dict[str, Any]  # prompt, parameters, seed, model, timings: what the result store keeps


ModelEvent = ProgressEvent | ResultEvent  # what a model class's generate yields


def progress_event(done: int, total: int, stage: str, preview: Preview | None = None) -> ProgressEvent:
    event: ProgressEvent = {"type": "progress", "done": done, "total": total, "stage": stage}
    if preview is not None:
        event["preview"] = preview
    return event


def result_event(files: list[File], record: dict[str, Any]) -> ResultEvent:
    return {"type": "result", "files": files, "record": record}
