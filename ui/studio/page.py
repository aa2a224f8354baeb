"""The studio: the Gradio page at "/", where a visitor makes images, music and video.

    head.py    the HTML around Gradio's app: title, description and OpenGraph/Twitter tags,
               the masthead (what serves this page, links to the gallery and the API)
    tabs       Image (ui/studio/image_tab.py), Music (ui/studio/music_tab.py), Video (ui/studio/video_tab.py)
               and Train (ui/studio/train_tab.py: a LoRA adapter from a few pictures)
    history    the visitor's results from this visit (share.py, session.py)

Every generation goes through ui.generation.generate on whatever Backend the app was built
with (local, hybrid or Modal), so the studio behaves the same on all three.

Limits: every generation passes the gate (ui/gate/, through run.py), as the REST API's do, and
every POST to the studio's API (calls and uploads) the same request and body limits
(ui/api/security.py); an upload is refused before Gradio writes it.

Concurrency: the web side holds no model and only awaits the backend, so Gradio's default
of one job at a time per event would make every visitor wait behind every other. Events
here run without a per-event limit; what bounds them is MAX_ACTIVE jobs in flight at once
(Gradio's queue-wide worker count) and MAX_WAITING more in the queue, beyond which a
visitor is told the studio is busy instead of waiting forever. The real limit sits behind
the backend: one call per model at a time locally, the GPU classes' autoscaling on Modal.

Remix links: `/?kind=image&prompt=...&seed=...` (any request field by its name in
models/requests.py) fills that tab's form and selects it. `&input=<result id>` on an image
remix link (the share page's "Use as input") puts that result's image into the image input; on
a video link (the share page's "Animate") it becomes the clip's start picture, as the Image tab's
own "Animate" button does with the image on show. `&guide=...&reference=...` fill the Guide panel
(ui/studio/guide_panel.py), and `/?kind=image&follow=vary-subtle&result=<id>` (the share page's
Vary and Upscale) runs that follow-up once the page has loaded (ui/studio/follow_ups.py).
"""

from __future__ import annotations

import json

import gradio as gr
from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

from models.common.errors import RequestError
from models.image.uploads import MAX_IMAGE_BYTES
from models.music.melody import MAX_MELODY_BYTES
from ui.errors import NotFound
from ui.gate import Gate
from ui.generation import Backend
from ui.settings import ASSETS, ApiSettings
from ui.store import ResultStore, covers
from ui.studio.controls import checked_fields
from ui.studio.head import CARD_PATH, TITLE, GradioAssetCache, StudioDocument
from ui.studio.image_tab import ImageTab
from ui.studio.music_tab import MusicTab
from ui.studio.run import RUNNING
from ui.studio.session import History
from ui.studio.share import history_strip, permalink
from ui.studio.train_tab import TrainTab
from ui.studio.video_tab import VideoTab

MAX_ACTIVE = 256  # generations in flight at once, all visitors together (each one only awaits)
MAX_WAITING = 512  # requests queued beyond that; more are refused with "queue is full"
MAX_UPLOAD = max(MAX_IMAGE_BYTES, MAX_MELODY_BYTES)  # one file: a picture, a mask, a melody, a PNG's recipe
CACHE_SWEEP = (3600, 3600)  # Gradio's temp files (copies of results on show, uploads) live about an hour


def mount_studio(app: FastAPI, backend: Backend, store: ResultStore, gate: Gate, settings: ApiSettings) -> FastAPI:
    """Mount the studio at "/". Call it last: a root mount catches every path not routed before it."""
    studio = build_studio(backend, store, gate)
    # Gradio checks that a file named in a request is one of its own uploads (and that a file
    # an event returns is in its temp folder) only in apps it launched itself: mounted, it
    # would read any path a client names (checked with gradio 6.31). Say it is launched.
    studio.has_launched = True
    app.include_router(card)
    app.add_middleware(StudioDocument, store=store, backend=backend, gate=gate)  # our head tags and masthead on "/"
    app.add_middleware(GradioAssetCache)  # a year's caching for Gradio's fingerprinted JS and CSS
    return gr.mount_gradio_app(
        app,
        studio,
        path="/",
        theme=studio_theme(),
        css_paths=[ASSETS / "studio.css"],
        footer_links=["api"],  # "Use via API": /generate_image, /generate_music, /generate_video for gradio_client
        run_history=False,  # the studio keeps its own per-visitor history
        allowed_paths=[],  # nothing on disk is served as is: results reach Gradio as copies (run.media_files)
        show_error=False,  # only gr.Error messages (written for people) reach the page, never a traceback
        # The largest file any request takes; the browser refuses a larger one before sending it, and
        # the gate refuses any upload over ATELIER_API_MAX_BODY before Gradio writes it (ui/api/security.py).
        max_file_size=min(MAX_UPLOAD, settings.api_max_body),
    )


card = APIRouter(include_in_schema=False)


@card.api_route(CARD_PATH, methods=["GET", "HEAD"])
def studio_card() -> Response:
    """The studio link's preview picture while the gallery has nothing published."""
    return Response(covers.studio_card(), media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


def build_studio(
    backend: Backend, store: ResultStore, gate: Gate, *, max_active: int = MAX_ACTIVE, max_waiting: int = MAX_WAITING
) -> gr.Blocks:
    with gr.Blocks(title=TITLE, delete_cache=CACHE_SWEEP, analytics_enabled=False) as studio:
        history = gr.State(History())  # one per page load: the visitor's results and their owner tokens
        strip = history_strip()  # rendered below the tabs, but the tabs' events update it
        with gr.Tabs(elem_id="studio-tabs") as tabs:
            with gr.Tab("Image", id="image", elem_id="tab-image"):
                image = ImageTab.build(backend, store, history, strip, gate)
            with gr.Tab("Music", id="music", elem_id="tab-music"):
                music = MusicTab.build(backend, store, history, strip, gate)
            with gr.Tab("Video", id="video", elem_id="tab-video"):
                video = VideoTab.build(backend, store, history, strip, gate)
            with gr.Tab("Train", id="train", elem_id="tab-train"):
                TrainTab.build(backend, store, gate).opens_results_in(tabs, image)
        strip.render()

        tab_of = {"image": image, "music": music, "video": video}
        form = {tabs} | {c for t in tab_of.values() for c in (*t.fill_outputs, *t.show_outputs, *t.share.outputs)}

        async def pick(session: History, event: gr.EventData, request: gr.Request) -> dict:
            """A history card was clicked: show that result and load its settings."""
            entry = session.find(event.id)
            try:
                record = store.get(entry.id) if entry else None  # fresh: it may since be unpublished or gone
            except NotFound:
                record = None
            if record is None:
                raise gr.Error("That result no longer exists.", print_exception=False)
            tab = tab_of[record["kind"]]
            return {
                tabs: gr.Tabs(selected=record["kind"]),
                **tab.fill(record["parameters"]),
                **await tab.show(record),
                **tab.share.showing(record["published"], permalink(request, record["id"])),
            }

        def remix(request: gr.Request) -> dict:
            return remix_updates(backend, tabs, tab_of, dict(request.query_params))

        video.animates(image.animate, image.current, image.prompt, tabs)
        strip.pick(pick, history, form, api_visibility="private", show_progress="hidden")
        loaded = studio.load(remix, None, form, api_visibility="private", show_progress="hidden")
        image.follow_ups.run_from_link(loaded, image, store, history, strip)
        studio.unload(stop_page_generations)  # a closed tab stops its work (run.py says why Gradio's own is not enough)

    studio.max_threads = max_active  # Gradio's queue runs at most this many jobs at once (launch() sets it)
    studio.queue(max_size=max_waiting, default_concurrency_limit=None)
    poll_less(studio)
    return studio


# How often Gradio's queue looks for work to start, and for progress to send, when it finds none.
QUEUE_POLL_S = 0.01
PROGRESS_POLL_S = 0.01  # Gradio's own: at 0.05 a fast model's whole denoising fell between two polls


def poll_less(studio: gr.Blocks) -> None:
    """Gradio's queue wakes every millisecond to look for a job to start and every 10 ms for
    progress to send, with visitors or without (gradio/queueing.py: `sleep_when_free`, not an
    argument of queue()): a thousand wake-ups a second, about 3.5% of a core on an idle studio and
    a share of every request's CPU (bench/results/studio-*.md). A job now starts at most 10 ms
    after it is queued. Progress keeps Gradio's 10 ms: at 50 ms the tiny video model's six
    denoising steps were never shown (a browser test caught it). Gradio's own attributes:
    tests/studio/test_studio_queue.py fails if they go."""
    queue = studio._queue
    queue.sleep_when_free, queue.progress_update_sleep_when_free = QUEUE_POLL_S, PROGRESS_POLL_S


def stop_page_generations(request: gr.Request) -> None:
    """The page has gone (Gradio saw its heartbeat connection drop): cancel what it started."""
    RUNNING.stop(request.session_hash)


def remix_updates(backend: Backend, tabs: gr.Tabs, tab_of: dict, query: dict[str, str]) -> dict:
    """Fill a tab from the page's query string (the permalink page's "Remix" and "Animate" links)."""
    kind = query.get("kind")
    if kind not in tab_of:
        return {tabs: gr.skip()}
    try:
        values = checked_fields(backend, kind, query)
    except RequestError as e:
        gr.Warning(f"The link's settings can't be used: {e}")
        return {tabs: gr.Tabs(selected=kind)}
    updates = {tabs: gr.Tabs(selected=kind), **tab_of[kind].fill(values)}
    if kind == "image":  # the Guide panel's pictures
        updates |= tab_of["image"].guide.from_query(values.get("preset") or backend.defaults["image"], query)
    if kind in ("image", "video") and query.get("input"):
        try:
            updates |= tab_of[kind].input_from_result(query["input"])
        except gr.Error as e:
            gr.Warning(f"The link's input image can't be used: {e.message}")
    return updates


def studio_theme() -> gr.themes.Base:
    """The theme described in assets/studio_theme.json: a base theme, its options, and variables."""
    spec = json.loads((ASSETS / "studio_theme.json").read_text())
    base = getattr(gr.themes, spec["base"])
    return base(**spec["options"]).set(**spec["variables"])
