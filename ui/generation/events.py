"""The events the web side adds to a model's (models/common/events.py), each kind declared once,
and the functions that make them.

A backend passes on the model's progress and result, telling a caller who waits for a model
its place in the line first; the one generate-and-save path (flow.py) turns the result into
the saved one; a job's stream (jobs.py, GET /api/v1/jobs/{id}/events, one SSE event per event,
named by its type) reports the job's state as it changes:

    Backend.generate   queued?, progress..., result
    flow.generate      queued?, progress..., saved
    a job's stream     status, queued..., running, progress..., preview... (when asked), then succeeded,
                       failed or cancelled

As on the model side, each kind is a TypedDict whose `type` is a Literal, and an event is a
plain dict at run time: the studio, the API and the SSE stream pass it on as it is.
"""

from __future__ import annotations

import base64
from typing import Any, Literal, TypedDict

from models.common.events import Preview, ProgressEvent, ResultEvent


class QueuedEvent(TypedDict):
    type: Literal["queued"]
    position: int | None  # 1 = next in line; sent again whenever it changes


class SavedEvent(TypedDict):
    type: Literal["saved"]
    record: dict[str, Any]  # the result store's record, its id and files included
    owner_token: str  # publishes or deletes the result: for the caller alone


BackendEvent = QueuedEvent | ProgressEvent | ResultEvent
FlowEvent = QueuedEvent | ProgressEvent | SavedEvent


# --- a job's stream: what its listeners see, as SSE events named by their type -----------------


class StatusEvent(TypedDict):
    type: Literal["status"]  # the first event: the job as it stands
    job: dict[str, Any]  # JobState.snapshot


class JobQueuedEvent(TypedDict):
    type: Literal["queued"]
    queue_position: int | None  # 1 = next in line; sent again whenever it changes
    position: int | None  # the same, by the name clients written before queue_position read


class RunningEvent(TypedDict):
    type: Literal["running"]


class PreviewEvent(TypedDict):
    type: Literal["preview"]
    done: int  # the step it shows
    mime: str
    data: str  # base64, for JSON


class FinishedEvent(TypedDict):
    type: Literal["succeeded", "failed", "cancelled"]  # the last event
    job: dict[str, Any]


# A job's progress is the model's (models/common/events.py) without a preview: previews are
# events of their own, which a listener asks for.
JobEvent = StatusEvent | JobQueuedEvent | RunningEvent | ProgressEvent | PreviewEvent | FinishedEvent


def queued_event(position: int | None) -> QueuedEvent:
    return {"type": "queued", "position": position}


def saved_event(record: dict[str, Any], owner_token: str) -> SavedEvent:
    return {"type": "saved", "record": record, "owner_token": owner_token}


def status_event(job: dict[str, Any]) -> StatusEvent:
    return {"type": "status", "job": job}


def job_queued_event(position: int | None) -> JobQueuedEvent:
    return {"type": "queued", "queue_position": position, "position": position}


def running_event() -> RunningEvent:
    return {"type": "running"}


def preview_event(done: int, preview: Preview) -> PreviewEvent:
    return {"type": "preview", "done": done, "mime": preview["mime"],
            "data": base64.b64encode(preview["data"]).decode("ascii")}


def finished_event(status: Literal["succeeded", "failed", "cancelled"], job: dict[str, Any]) -> FinishedEvent:
    return {"type": status, "job": job}
