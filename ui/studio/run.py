"""One studio generation: checked input → the gate → ui.generation.generate → the saved result.

The gate (ui/gate/) is the one every way into a model passes: here it judges the visitor of
the request Gradio is handling (Gradio keeps it in its context while an event runs), so a
generation by any of the studio's routes (the browser's queue, gradio_client, /call, /run)
meets the same limits as one by the REST API.

What the studio adds to the shared path is the browser's view of it: the events become
gr.Progress updates (queue position while a model is busy, then the model's own steps),
previews (an image forming, a long clip's waveform so far) go to the tab as they arrive, and the errors a person can act on
become gr.Error messages in the page. Nothing here
waits on anything but the backend, so one visitor's generation never holds up another's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import gradio as gr
from gradio.context import LocalContext
from gradio.processing_utils import save_bytes_to_cache, save_file_to_cache
from gradio.utils import get_upload_folder

from models.common.errors import RequestError
from models.common.events import Preview, ProgressEvent
from models.requests import parse
from ui.errors import ApiError, GenerationError
from ui.gate import Gate, Ticket
from ui.generation import Backend, checked_job, generate
from ui.store import ResultStore
from ui.studio.session import Entry, History
from ui.urls import site_url

GRADIO_CACHE = get_upload_folder()  # where Gradio keeps (and serves) uploads and outputs: GRADIO_TEMP_DIR

# A progress event → (fraction done or (done, total), what to say): each tab words its own.
Describe = Callable[[ProgressEvent], tuple[float | tuple[int, int], str]]


async def run(
    backend: Backend, store: ResultStore, kind: str, fields: dict, session: History, progress: gr.Progress,
    describe: Describe, *, gate: Gate,
) -> dict:
    """Check the fields, pass the gate, run the job, report progress, add the result to the
    visitor's history; its public record, or a gr.Error. Fields left None (by a gradio_client
    caller, say) take the preset's defaults."""
    async for _preview, record in run_with_previews(backend, store, kind, fields, session, progress, describe,
                                                    gate=gate):
        if record is not None:
            return record
    raise AssertionError("run_with_previews ends with the record or raises")


async def run_with_previews(
    backend: Backend, store: ResultStore, kind: str, fields: dict, session: History, progress: gr.Progress,
    describe: Describe, *, gate: Gate,
) -> AsyncIterator[tuple[Preview | None, dict | None]]:
    """As `run`, yielding (preview, None) whenever the model sends a preview of the result
    forming ({"mime", "data"}: models/common/events.py), and (None, record) last."""
    try:
        request = await asyncio.to_thread(parse, kind, {k: v for k, v in fields.items() if v is not None})
        job = await checked_job(backend, store, request)  # off the event loop: see checked_job
        ticket = admit(gate)  # after the checks: a refused request spends nothing
        progress(0, desc="Starting…")
        async for event in generate(backend, store, job, ticket):
            match event["type"]:
                case "queued":
                    progress(0, desc=waiting_message(event.get("position")))
                case "progress":
                    done, message = describe(event)
                    progress(done, desc=message)
                    if preview := event.get("preview"):
                        yield preview, None
                case "saved":
                    session.add(Entry(event["record"], event["owner_token"]))
                    yield None, event["record"]
                    return
    except RequestError as e:  # from the schema here, or from a remote model's own check
        raise gr.Error(str(e), title="Please check the settings", print_exception=False) from None
    except GenerationError as e:  # the backend has logged it; the visitor gets the sentence
        raise gr.Error(str(e), title="The model couldn't finish", print_exception=False) from None
    raise gr.Error("The model stopped without a result.", print_exception=False)


def admit(gate: Gate) -> Ticket:
    """The gate's leave for this event's visitor (the request Gradio is handling: a browser's or
    gradio_client's call, whichever route it came by), or the gate's sentence as a gr.Error."""
    request = LocalContext.request.get(None)
    headers = request.headers if request is not None else {}
    client = getattr(request, "client", None)
    try:
        return gate.admit(gate.visitor(headers, getattr(client, "host", None)))
    except ApiError as e:
        title = "Please wait a moment" if e.status_code == 429 else "The studio is busy"
        raise gr.Error(e.detail, title=title, print_exception=False) from None


def cached_preview(preview: Preview) -> str:
    """A preview's bytes as a file Gradio serves (its cache, swept like every output)."""
    suffix = {"image/webp": "webp", "image/png": "png"}.get(preview.get("mime"), "webp")
    return save_bytes_to_cache(preview["data"], f"preview.{suffix}", GRADIO_CACHE)


def waiting_message(position: int | None) -> str:
    if position:
        ahead = position - 1
        return f"Waiting for a free model: {ahead} request{'s' if ahead != 1 else ''} ahead of you"
    return "Waiting for a free GPU…"


def public_base_url(request: gr.Request) -> str:
    """The scheme and host the visitor's browser used, e.g. "https://me--atelier.modal.run"
    (behind a proxy, Modal's included, from the forwarded headers: ui/urls.py)."""
    return site_url(request.request)


async def media_files(store: ResultStore, record: dict) -> list[str]:
    """A result's media as copies in Gradio's temp folder, for its image and audio components.

    Gradio serves outputs only from there (swept by `delete_cache`), and a gradio_client
    downloads them only through Gradio's file route, so the studio hands over copies rather
    than /results URLs; it makes them here, off the event loop, where Gradio would copy them
    on it. store.media_path resolves nothing but the files a record lists, so no other file
    can reach Gradio from here. A copy is made once per content (named by its hash).
    """
    paths = [store.media_path(record["id"], f["name"])[0] for f in record["files"]]
    return [await asyncio.to_thread(save_file_to_cache, path, GRADIO_CACHE) for path in paths]
