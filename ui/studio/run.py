"""One studio generation: checked input → the gate → ui.generation.generate → the saved result.

The gate (ui/gate/) is the one every way into a model passes: here it judges the visitor of
the request Gradio is handling (Gradio keeps it in its context while an event runs), so a
generation by any of the studio's routes (the browser's queue, gradio_client, /call, /run)
meets the same limits as one by the REST API.

What the studio adds to the shared path is the browser's view of it: the events become
gr.Progress updates (the place in line while a model is busy, "3rd in line", then the model's
own steps), previews (an image forming, a long clip's waveform so far) go to the tab as they
arrive, and the errors a person can act on become gr.Error messages in the page. Nothing here
waits on anything but the backend, so one visitor's generation never holds up another's.

Stopping: a generation is the task of its Gradio event, and cancelling that task stops the
model's work (ui/generation/backend.py). Stop cancels it through Gradio (`cancels=`, wired in
controls.py). A closed tab does too: Gradio itself only marks a running event of a page that has
gone as dead, and the event runs on to its next yield (ours yield only previews and the result),
so each generation is noted under its page's session here (RUNNING), and the page's `unload`,
which Gradio runs when the page's heartbeat connection drops, cancels them (page.py).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
from gradio.context import LocalContext
from gradio.processing_utils import save_bytes_to_cache, save_file_to_cache
from gradio.utils import get_upload_folder

from models.common.errors import RequestError
from models.common.events import Preview, ProgressEvent
from models.requests import parse
from ui.errors import ApiError, GenerationError
from ui.gate import Gate, Ticket, Visitor
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
        with RUNNING.noted():
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


async def uploaded_bytes(upload: dict | None) -> bytes | None:
    """The bytes of an uploaded file (a melody, a start picture), as Gradio hands it over
    unprocessed (a FileData dict).

    Gradio has already checked the path is one of its own uploads (see mount_studio); the
    request schema then checks the bytes are a usable melody or picture.
    """
    if not upload:
        return None
    return await asyncio.to_thread(Path(upload["path"]).read_bytes)


def inline_preview(preview: Preview, caption: str, alt: str) -> str:
    """Markdown showing a preview in place (a data: URL), so a tab's outputs (and its gradio_client
    API) stay what they were while a long generation shows how it is forming."""
    data = base64.b64encode(preview["data"]).decode("ascii")
    return f"{caption}:\n\n![{alt}](data:{preview['mime']};base64,{data})"


def visitor_here(gate: Gate) -> Visitor:
    """This event's visitor, as the gate counts them (the request Gradio is handling: a browser's or
    gradio_client's call, whichever route it came by)."""
    request = LocalContext.request.get(None)
    headers = request.headers if request is not None else {}
    return gate.visitor(headers, getattr(getattr(request, "client", None), "host", None))


def admit(gate: Gate, visitor: Visitor | None = None) -> Ticket:
    """The gate's leave for this event's visitor, or the gate's sentence as a gr.Error."""
    try:
        return gate.admit(visitor or visitor_here(gate))
    except ApiError as e:
        raise as_gradio_error(e) from None


def as_gradio_error(e: ApiError) -> gr.Error:
    """The gate's refusal (its one sentence) as the studio shows it."""
    title = {403: "Not allowed here", 429: "Please wait a moment"}.get(e.status_code, "The studio is busy")
    return gr.Error(e.detail, title=title, print_exception=False)


def cached_preview(preview: Preview) -> str:
    """A preview's bytes as a file Gradio serves (its cache, swept like every output)."""
    suffix = {"image/webp": "webp", "image/png": "png"}.get(preview.get("mime"), "webp")
    return save_bytes_to_cache(preview["data"], f"preview.{suffix}", GRADIO_CACHE)


def waiting_message(position: int | None) -> str:
    """'Waiting for a free model: 3rd in line'."""
    if position:
        return f"Waiting for a free model: {ordinal(position)} in line"
    return "Waiting for a free GPU…"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class Running:
    """The generations under way, by the Gradio session (one page load) that started them."""

    def __init__(self) -> None:
        self._tasks: dict[str, set[asyncio.Task]] = {}

    @contextmanager
    def noted(self) -> Iterator[None]:
        """Note the current event's task under its page's session while the block runs."""
        request = LocalContext.request.get(None)  # the request Gradio is handling for this event
        session, task = getattr(request, "session_hash", None), asyncio.current_task()
        if session is None or task is None:
            yield
            return
        self._tasks.setdefault(session, set()).add(task)
        try:
            yield
        finally:
            tasks = self._tasks.get(session, set())
            tasks.discard(task)
            if not tasks:
                self._tasks.pop(session, None)

    def stop(self, session: str | None) -> int:
        """Cancel the session's generations (its page has gone); how many there were."""
        tasks = self._tasks.pop(session, set()) if session else set()
        for task in tasks:
            task.cancel()
        return len(tasks)


RUNNING = Running()  # every studio of this process: session hashes are unique


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
