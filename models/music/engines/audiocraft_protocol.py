"""What the audiocraft worker and its parent say to each other (audiocraft_process.py draws the exchange).

One JSON object a line, each with the number `n` of the job it is about (0: the worker itself).
The parent sends {"n": 1, "job": {...}} (a MusicJob as JSON), and {"n": 1, "cancel": true} to
stop that job at its next decoding step (the worker then answers with an error whose `error` is
"Cancelled"; a cancel for a job not yet started stops it as it starts); the worker answers with its own
kinds of message, declared here, and with the engine's events (models/common/events.py), whose
bytes travel as base64: a file's or a preview's "data" becomes "data_base64" on the line.

    {"n": 0, "type": "ready", "sample_rate": 32000, "device": "cpu", ...}   (once, when loaded)
    {"n": 1, "type": "progress", ...}, then {"n": 1, "type": "result", "files": [{..., "data_base64": "..."}], ...}
    {"n": 1, "type": "error", "error": "RequestError", "message": "..."}   (a job, or the load, failed)
"""

from __future__ import annotations

import base64
from typing import Any, Literal, TypedDict

from models.common.events import File, ModelEvent, progress_event, result_event


class Ready(TypedDict):
    n: int
    type: Literal["ready"]
    sample_rate: int
    device: str
    load_seconds: float
    diffusion_decoder: bool  # whether the engine loaded a MultiBand Diffusion decoder


class Failed(TypedDict):
    n: int
    type: Literal["error"]
    error: str  # the exception's class name, which the parent turns back into one of its own
    message: str


WorkerMessage = Ready | Failed  # and the engine's events, on the line


def job_line(n: int, job: dict[str, Any]) -> dict[str, Any]:
    """The parent's request to run a job (a MusicJob as JSON)."""
    return {"n": n, "job": job}


def cancel_line(n: int) -> dict[str, Any]:
    """The parent's request to stop job `n`."""
    return {"n": n, "cancel": True}


def ready(sample_rate: int, device: str, load_seconds: float, diffusion_decoder: bool) -> Ready:
    return {"n": 0, "type": "ready", "sample_rate": sample_rate, "device": device,
            "load_seconds": load_seconds, "diffusion_decoder": diffusion_decoder}


def failed(n: int, e: Exception) -> Failed:
    return {"n": n, "type": "error", "error": type(e).__name__, "message": str(e)}


def event_to_line(n: int, event: ModelEvent) -> dict[str, Any]:
    """An event about job `n` as the worker writes it: bytes as base64."""
    message: dict[str, Any] = {"n": n, **event}
    if event["type"] == "result":
        message["files"] = [_to_base64(file) for file in event["files"]]
    elif "preview" in event:
        message["preview"] = _to_base64(event["preview"])
    return message


def event_from_line(message: dict[str, Any]) -> ModelEvent:
    """An event as the parent's callers get it (`n` already taken off): bytes again."""
    if message["type"] == "result":
        files: list[File] = [{"name": f["name"], "mime": f["mime"], "data": base64.b64decode(f["data_base64"])}
                             for f in message["files"]]
        return result_event(files, message["record"])
    preview = message.get("preview")
    return progress_event(message["done"], message["total"], message["stage"],
                          {"mime": preview["mime"], "data": base64.b64decode(preview["data_base64"])} if preview else None)


def _to_base64(item: Any) -> dict[str, Any]:
    fields = {key: value for key, value in item.items() if key != "data"}
    return fields | {"data_base64": base64.b64encode(item["data"]).decode("ascii")}
