"""Share pages: a permalink for every result and a gallery of published ones (FastHTML).

    GET  /r/{id}                  one result: media, prompt, parameters, downloads, a remix link,
                                  and the OpenGraph/Twitter tags that make a shared link unfurl
    GET  /r/{id}/cover.png        the 1200×630 preview those tags point at (a waveform for music)
    GET  /r/{id}/thumb.webp       the gallery card's picture
    POST /r/{id}/publish          owner only (header X-Owner-Token): list it in the gallery
    POST /r/{id}/unpublish        owner only: back to unlisted (still reachable by its link)
    POST /r/{id}/delete           owner only: gone for good
    GET  /gallery                 published results, newest first; ?kind=image|music; ?before=<id>
                                  pages on (htmx asks for the next cards only, without the page)
    GET  /pages-assets/{name}     this module's CSS and JS, and the vendored htmx: no CDN at run time

Server-rendered, and every string a visitor typed goes through FastHTML's escaping (text and
attributes alike); the small JS (assets/pages.js) only adds the owner's controls and a copy
button, so the pages read fine without it.

The routes are lifted onto the FastAPI router rather than mounting the FastHTML app: the
Gradio studio is mounted at "/", and a mount at /gallery would not match "/gallery" itself
(only "/gallery/..."), so the root mount would take it. As plain routes registered before
the Gradio mount, "/gallery" and "/r/{id}" match exactly. FastHTML's own middleware never
runs that way; these pages need none (no sessions).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from fastapi import FastAPI
from fasthtml.common import (
    H1,
    H2,
    A,
    Article,
    Audio,
    Body,
    Button,
    Dd,
    Div,
    Dl,
    Dt,
    FastHTML,
    Figure,
    Footer,
    Head,
    Header,
    Html,
    Img,
    Input,
    Label,
    Li,
    Link,
    Main,
    Meta,
    Nav,
    P,
    Script,
    Section,
    Span,
    Time,
    Title,
    Ul,
    to_xml,
)
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from models.requests import REQUESTS
from ui import covers
from ui.store import ID_PATTERN, Forbidden, NotFound, ResultStore

ASSETS = Path(__file__).resolve().parent.parent / "assets"
ASSET_ROUTE = "/pages-assets"
ASSET_TYPES = {"pages.css": "text/css", "pages.js": "text/javascript", "htmx.min.js": "text/javascript"}
PAGE_SIZE = 24
KINDS = {"image": "Image", "music": "Music"}
OWNER_HEADER = "X-Owner-Token"

# Defence in depth behind the escaping: these pages run only their own scripts and styles.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; script-src 'self'; "
        "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # An unlisted result's link is its only lock: never hand it to another site as a referrer.
    "Referrer-Policy": "same-origin",
}
# htmx's defaults that a strict CSP would block (an injected <style>, eval): both off.
HTMX_CONFIG = '{"includeIndicatorStyles": false, "allowEval": false, "allowScriptTags": false}'

# The brand mark, inline: no extra request, nothing for the studio's root mount to answer.
FAVICON = "data:image/svg+xml," + quote(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><defs><linearGradient id="g" x2="1" y2="1">'
    '<stop offset="0" stop-color="#ff8a5b"/><stop offset="1" stop-color="#8b7bff"/></linearGradient></defs>'
    '<rect width="32" height="32" rx="9" fill="url(#g)"/><circle cx="16" cy="16" r="7" fill="#14121c"/></svg>'
)

_HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def add_pages(app: FastAPI, store: ResultStore) -> None:
    """Put the share pages on `app`'s router. Call it before mounting Gradio at "/"."""
    app.router.routes.extend(build_pages(store).routes)


def build_pages(store: ResultStore) -> FastHTML:
    # FastHTML reads or writes a `.sesskey` file in the working directory unless it is given
    # a key, and loads htmx and friends from a CDN unless its default headers are off. These
    # pages use no sessions, so the key is a throwaway.
    pages = FastHTML(default_hdrs=False, sess_cls=None, secret_key=secrets.token_urlsafe(32))
    versions = {name: _digest(ASSETS / name) for name in ASSET_TYPES}

    def asset(name: str) -> str:
        return f"{ASSET_ROUTE}/{name}?v={versions[name]}"

    # --- one result ---------------------------------------------------------------------------

    @pages.get("/r/{result_id}")
    def permalink(req: Request, result_id: str):
        try:
            record = store.get(result_id)
        except NotFound:
            return _not_found(asset)
        return _html(_permalink_page(record, site_url(req), asset), indexable=record["published"])

    @pages.get("/r/{result_id}/")
    def permalink_slash(result_id: str):
        return _redirect(f"/r/{result_id}" if ID_PATTERN.match(result_id) else "/gallery")

    @pages.get("/r/{result_id}/cover.png")
    async def cover(req: Request, result_id: str):
        return await _picture(req, store, result_id, covers.COVER_SIZE, "PNG", asset)

    @pages.get("/r/{result_id}/thumb.webp")
    async def thumb(req: Request, result_id: str):
        return await _picture(req, store, result_id, covers.THUMB_SIZE, "WEBP", asset)

    # --- the owner's actions ------------------------------------------------------------------

    async def act(req: Request, result_id: str, action: str) -> Response:
        from ui.web import error_response  # the one JSON error shape (ui.web imports this module)

        token = req.headers.get(OWNER_HEADER)  # never logged, never echoed
        try:
            if action == "delete":
                await asyncio.to_thread(store.delete, result_id, token)
                return _json_ok({"id": result_id, "deleted": True})
            record = await asyncio.to_thread(store.set_published, result_id, token, action == "publish")
            return _json_ok({"id": result_id, "published": record["published"]})
        except NotFound:
            return error_response(404, "not_found", "No result with that id: it may have been deleted already.")
        except Forbidden:
            return error_response(
                403,
                "forbidden",
                "Only the person who made this result can change it, from the browser they made it in.",
            )

    @pages.post("/r/{result_id}/publish")
    async def publish(req: Request, result_id: str):
        return await act(req, result_id, "publish")

    @pages.post("/r/{result_id}/unpublish")
    async def unpublish(req: Request, result_id: str):
        return await act(req, result_id, "unpublish")

    @pages.post("/r/{result_id}/delete")
    async def delete(req: Request, result_id: str):
        return await act(req, result_id, "delete")

    # --- the gallery --------------------------------------------------------------------------

    @pages.get("/gallery")
    def gallery(req: Request, kind: str | None = None, before: str | None = None):
        kind = kind or None
        if kind is not None and kind not in KINDS:
            return _problem(400, "No such kind", f"The gallery shows images or music, not “{_clip(kind, 40)}”.", asset)
        if before is not None and not ID_PATTERN.match(before):
            return _problem(400, "Broken page link", "That gallery page link is incomplete.", asset)
        found = store.list(published_only=True, kind=kind, before=before, limit=PAGE_SIZE + 1)
        records, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
        cards = _cards(records, kind, more)
        if "hx-request" in req.headers:  # the "More" button: just the next cards
            return _html(cards, vary="HX-Request")
        return _html(_gallery_page(records, cards, kind, before, site_url(req), asset), vary="HX-Request")

    @pages.get("/gallery/")
    def gallery_slash(req: Request):
        return _redirect("/gallery" + (f"?{req.url.query}" if req.url.query else ""))

    # --- assets -------------------------------------------------------------------------------

    @pages.get(ASSET_ROUTE + "/{name}")
    def assets(name: str, v: str | None = None):
        if name not in ASSET_TYPES:
            return _not_found(asset)
        fresh = v == versions[name]  # versioned URLs never change: cache them for good
        cache = "public, max-age=31536000, immutable" if fresh else "no-cache"
        return FileResponse(ASSETS / name, media_type=ASSET_TYPES[name], headers={"Cache-Control": cache})

    # Anything else under these prefixes is ours to turn away (last: the routes above win),
    # with a page, rather than falling through to the studio mounted at "/".
    @pages.get("/r/{rest:path}")
    def unknown_result_path(rest: str):
        return _not_found(asset)

    @pages.get(ASSET_ROUTE + "/{rest:path}")
    def unknown_asset(rest: str):
        return _not_found(asset)

    return pages


# --- the permalink page -------------------------------------------------------------------------


def _permalink_page(record: dict, site: str, asset) -> Html:
    rid, kind = record["id"], record.get("kind", "image")
    params = record.get("parameters", {})
    prompt = params.get("prompt", "")
    url = f"{site}/r/{rid}"
    return _document(
        title=f"“{_clip(prompt, 60)}” · Atelier",
        description=_summary(record),
        canonical=url,
        image=(f"{site}/r/{rid}/cover.png", f"Preview of {kind}: {_clip(prompt, 200)}"),
        audio=[(f"{site}{_media_url(rid, f['name'])}", f["mime"]) for f in _files(record, "audio/")],
        og_title=_clip(prompt, 90),
        indexable=record["published"],
        asset=asset,
        scripts=["pages.js"],
        main=Main(
            Article(
                _media(record),
                Div(
                    P(
                        Span(KINDS.get(kind, kind), cls="badge"),
                        Span(_visibility(record["published"]), id="visibility", cls="badge quiet"),
                        cls="badges",
                    ),
                    H1(prompt, cls="prompt"),
                    P(Span("Without: ", cls="label"), params["negative_prompt"], cls="negative")
                    if params.get("negative_prompt")
                    else None,
                    Div(
                        A("Remix in the studio", href=remix_link(record), cls="button primary"),
                        *[
                            A(_download_label(f, record), href=_media_url(rid, f["name"]), download=f"atelier-{rid}-{f['name']}", cls="button")
                            for f in record.get("files", [])
                        ],
                        cls="actions",
                    ),
                    _share_box(url),
                    Dl(*[part for term, value in _facts(record) for part in (Dt(term), Dd(value))], cls="facts"),
                    _owner_panel(record),
                    cls="details",
                ),
                cls=f"result result-{kind}",
                data_result_id=rid,
                data_published="true" if record["published"] else "false",
            ),
        ),
    )


def _media(record: dict) -> Figure:
    rid, prompt = record["id"], record.get("parameters", {}).get("prompt", "")
    if record.get("kind") == "music":
        players = [Audio(controls=True, preload="metadata", src=_media_url(rid, f["name"])) for f in _files(record, "audio/")]
        return Figure(
            Img(src=f"/r/{rid}/cover.png", alt="Waveform of this music", width=1200, height=630, cls="cover"),
            *players,
            cls="media media-music",
        )
    images = _files(record, "image/")
    params = record.get("parameters", {})
    size = {"width": params["width"], "height": params["height"]} if "width" in params and "height" in params else {}
    return Figure(
        *[
            A(Img(src=_media_url(rid, f["name"]), alt=prompt, **size), href=_media_url(rid, f["name"]), title="Full size")
            for f in images
        ],
        cls=f"media media-image count-{len(images)}",
    )


def _share_box(url: str) -> Div:
    return Div(
        Label("Link", fr="share-url", cls="label"),
        Input(id="share-url", readonly=True, value=url, cls="share-url"),
        Button("Copy", type="button", id="copy-link", hidden=True, cls="button small"),  # shown by pages.js
        cls="share",
    )


def _owner_panel(record: dict) -> Section:
    """Publish/Unpublish/Delete, hidden until pages.js finds this result's owner key in the browser."""
    return Section(
        H2("Yours"),
        P("This browser made this result, so you can choose who sees it.", cls="hint"),
        Div(
            Button("Publish to the gallery", type="button", data_action="publish", cls="button primary"),
            Button("Make unlisted", type="button", data_action="unpublish", cls="button"),
            Button("Delete", type="button", data_action="delete", cls="button danger"),
            cls="actions",
        ),
        P(role="status", aria_live="polite", cls="owner-status"),
        id="owner",
        hidden=True,
        cls="owner",
    )


def remix_link(record: dict) -> str:
    """The studio, with this result's settings filled in: `/?kind=...&<request field>=...`.

    Only fields of the kind's request schema go in (a job's derived values, like music's
    window, are the model's business), and only plain values: an uploaded melody can't
    travel in a link, so the studio asks for it again.
    """
    kind = record.get("kind", "image")
    params = record.get("parameters", {})
    query = [("kind", kind)] + [
        (name, _query_value(params[name]))
        for name in REQUESTS[kind].model_fields
        if isinstance(params.get(name), (str, int, float))  # bools are ints
    ]
    return "/?" + urlencode(query)


def _query_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)  # str(float) round-trips exactly


def _facts(record: dict) -> list[tuple[str, object]]:
    params, model = record.get("parameters", {}), record.get("model", {})
    seconds = record.get("seconds", {})
    facts: list[tuple[str, object]] = [("Model", model.get("preset") or params.get("preset", "?"))]
    if record.get("kind") == "music":
        audio = record.get("audio", {})
        facts += [
            ("Length", _clock(audio.get("seconds", params.get("duration", 0)))),
            ("Format", str(params.get("format", "")).upper()),
            ("Temperature", params.get("temperature")),
            ("Top-k", params.get("top_k")),
            ("Guidance", params.get("guidance")),
        ]
    else:
        facts += [
            ("Size", f"{params.get('width')} × {params.get('height')} px"),
            ("Steps", params.get("steps")),
            ("Guidance", params.get("guidance")),
        ]
        if params.get("num_images", 1) > 1:
            facts.append(("Images", params["num_images"]))
    facts.append(("Seed", record.get("seed", params.get("seed"))))
    if "generate" in seconds:
        facts.append(("Time taken", f"{seconds['generate']:.1f} s" + (f" on {model['device']}" if model.get("device") else "")))
    if "created_at" in record:
        made = time.gmtime(record["created_at"])
        facts.append(("Made", Time(time.strftime("%d %b %Y, %H:%M UTC", made), datetime=time.strftime("%Y-%m-%dT%H:%M:%SZ", made))))
    return [(term, value) for term, value in facts if value is not None]


def _summary(record: dict) -> str:
    params = record.get("parameters", {})
    preset = record.get("model", {}).get("preset") or params.get("preset", "")
    if record.get("kind") == "music":
        length = _clock(record.get("audio", {}).get("seconds", params.get("duration", 0)))
        return f"{length} of music made with Atelier ({preset}, seed {record.get('seed')})."
    return f"An image made with Atelier ({preset}, {params.get('width')}×{params.get('height')}, seed {record.get('seed')})."


def _download_label(f: dict, record: dict) -> str:
    images = _files(record, "image/")
    which = f" image {images.index(f) + 1}" if len(images) > 1 and f in images else ""
    return f"Download{which} {f['name'].rsplit('.', 1)[-1].upper()} · {_size(f.get('bytes', 0))}"


# --- the gallery ----------------------------------------------------------------------------------


def _gallery_page(records: list[dict], cards, kind: str | None, before: str | None, site: str, asset) -> Html:
    heading = {"image": "Images", "music": "Music"}.get(kind, "Everything")
    newest = records[0] if records else None
    return _document(
        title="Gallery · Atelier",
        description="Images and music people made with Atelier and chose to share.",
        canonical=f"{site}/gallery" + (f"?kind={kind}" if kind else ""),
        image=(f"{site}/r/{newest['id']}/cover.png", "The newest shared result") if newest else None,
        og_title="The Atelier gallery",
        indexable=before is None,
        asset=asset,
        scripts=["htmx.min.js", "pages.js"],
        main=Main(
            Div(
                Div(H1("Gallery"), P("Images and music people made here and chose to share.", cls="lede")),
                Nav(
                    *[
                        A(label, href="/gallery" + (f"?kind={k}" if k else ""), aria_current="page" if k == kind else None)
                        for k, label in ((None, "Everything"), ("image", "Images"), ("music", "Music"))
                    ],
                    cls="filters",
                    aria_label="Show",
                ),
                cls="gallery-head",
            ),
            Ul(cards, id="cards", cls="cards", aria_label=heading)
            if records
            else Div(
                P("Nothing shared here yet." if before is None else "No more results."),
                P("Make something in the ", A("studio", href="/"), ", open its link, and press Publish."),
                cls="empty",
            ),
            cls="gallery",
        ),
    )


def _cards(records: list[dict], kind: str | None, more: bool) -> tuple:
    cards = [_card(r) for r in records]
    if more:
        query = urlencode({k: v for k, v in (("kind", kind), ("before", records[-1]["id"])) if v})
        cards.append(
            Li(
                A("More", href=f"/gallery?{query}", hx_get=f"/gallery?{query}", hx_target="closest li", hx_swap="outerHTML", cls="button"),
                cls="more",
            )
        )
    return tuple(cards)


def _card(record: dict) -> Li:
    rid, kind = record["id"], record.get("kind", "image")
    params = record.get("parameters", {})
    if kind == "music":
        detail = f"Music · {_clock(record.get('audio', {}).get('seconds', params.get('duration', 0)))}"
    else:
        detail = f"Image · {params.get('width')}×{params.get('height')}"
    return Li(
        A(
            Img(src=f"/r/{rid}/thumb.webp", alt="", loading="lazy", width=covers.THUMB_SIZE[0], height=covers.THUMB_SIZE[1]),
            Span(detail, cls="card-kind"),
            Span(params.get("prompt", ""), cls="card-prompt"),
            href=f"/r/{rid}",
        ),
        cls=f"card card-{kind}",
    )


# --- the frame every page shares -----------------------------------------------------------------


def _document(*, title, description, canonical, image, og_title, indexable, asset, scripts, main, audio=()) -> Html:
    meta = [
        Meta(charset="utf-8"),
        Meta(name="viewport", content="width=device-width, initial-scale=1"),
        Title(title),
        Meta(name="description", content=description),
        Link(rel="canonical", href=canonical),
        Meta(property="og:site_name", content="Atelier"),
        Meta(property="og:type", content="website"),
        Meta(property="og:title", content=og_title),
        Meta(property="og:description", content=description),
        Meta(property="og:url", content=canonical),
        Meta(name="twitter:card", content="summary_large_image" if image else "summary"),
        Meta(name="twitter:title", content=og_title),
        Meta(name="twitter:description", content=description),
    ]
    if image:
        src, alt = image
        meta += [
            Meta(property="og:image", content=src),
            Meta(property="og:image:type", content="image/png"),
            Meta(property="og:image:width", content=str(covers.COVER_SIZE[0])),
            Meta(property="og:image:height", content=str(covers.COVER_SIZE[1])),
            Meta(property="og:image:alt", content=alt),
            Meta(name="twitter:image", content=src),
            Meta(name="twitter:image:alt", content=alt),
        ]
    for src, mime in audio:
        meta += [Meta(property="og:audio", content=src), Meta(property="og:audio:type", content=mime)]
    if not indexable:
        meta.append(Meta(name="robots", content="noindex"))
    meta += [
        Meta(name="htmx-config", content=HTMX_CONFIG),
        Meta(name="color-scheme", content="dark"),
        Link(rel="icon", href=FAVICON),
        Link(rel="stylesheet", href=asset("pages.css")),
        *[Script(src=asset(name), defer=True) for name in scripts],
    ]
    return Html(
        Head(*meta),
        Body(
            Header(
                A(Span(cls="mark", aria_hidden="true"), "Atelier", href="/", cls="brand"),
                Nav(A("Studio", href="/"), A("Gallery", href="/gallery"), cls="site-nav"),
                cls="site-header",
            ),
            main,
            Footer(P("Made with Atelier: images and music from words."), cls="site-footer"),
        ),
        lang="en",
    )


def _not_found(asset) -> HTMLResponse:
    return _problem(
        404,
        "Nothing here",
        "We couldn't find that result. Its maker may have deleted it, or the link may be incomplete.",
        asset,
    )


def _problem(status: int, heading: str, message: str, asset) -> HTMLResponse:
    page = _document(
        title=f"{heading} · Atelier",
        description=message,
        canonical="/gallery",
        image=None,
        og_title=heading,
        indexable=False,
        asset=asset,
        scripts=[],
        main=Main(
            Div(
                H1(heading),
                P(message),
                P(A("Browse the gallery", href="/gallery", cls="button primary"), A("Open the studio", href="/", cls="button")),
                cls="problem",
            )
        ),
    )
    return _html(page, status=status, indexable=False)


# --- responses ------------------------------------------------------------------------------------


def _html(content, status: int = 200, indexable: bool = True, vary: str | None = None) -> HTMLResponse:
    headers = dict(SECURITY_HEADERS)
    headers["Cache-Control"] = "no-cache"  # publishing changes a page: always revalidate
    if not indexable:
        headers["X-Robots-Tag"] = "noindex"
    if vary:
        headers["Vary"] = vary
    return HTMLResponse(to_xml(content), status_code=status, headers=headers)


def _json_ok(body: dict) -> Response:
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=308)


async def _picture(req: Request, store: ResultStore, result_id: str, size, fmt: str, asset) -> Response:
    """A result's cover or thumbnail, drawn from its first image or audio file (ui/covers.py)."""
    try:
        record = store.get(result_id)
        media = _files(record, "audio/" if record.get("kind") == "music" else "image/") or record["files"]
        path, mime = store.media_path(result_id, media[0]["name"])
    except (NotFound, KeyError, IndexError):
        return _not_found(asset)
    tag = f'"{result_id}-{size[0]}x{size[1]}-v1"'
    headers = {"Cache-Control": "public, max-age=3600", "ETag": tag}  # short: a deletion should stick
    if req.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=headers)
    data = await asyncio.to_thread(covers.render, path, mime, tuple(size), _cover_label(record), fmt)
    return Response(data, media_type=f"image/{fmt.lower()}", headers=headers)


def _cover_label(record: dict) -> str:
    if record.get("kind") != "music":
        return ""
    params = record.get("parameters", {})
    length = _clock(record.get("audio", {}).get("seconds", params.get("duration", 0)))
    preset = record.get("model", {}).get("preset") or params.get("preset", "")
    return " · ".join(part for part in ("Music", length, str(params.get("format", "")).upper(), preset) if part)


# --- small helpers --------------------------------------------------------------------------------


def site_url(req: Request) -> str:
    """The site's address as the visitor sees it: behind a proxy, from X-Forwarded-Proto/Host."""
    proto = (req.headers.get("x-forwarded-proto") or req.url.scheme).split(",")[0].strip().lower()
    host = (req.headers.get("x-forwarded-host") or req.headers.get("host") or "").split(",")[0].strip()
    if proto not in ("http", "https"):
        proto = req.url.scheme
    if not _HOST.match(host):
        host = req.url.netloc
    return f"{proto}://{host}"


def _files(record: dict, mime_prefix: str) -> list[dict]:
    return [f for f in record.get("files", []) if f.get("mime", "").startswith(mime_prefix)]


def _media_url(result_id: str, name: str) -> str:
    return f"/results/{result_id}/{name}"  # served by ui/web.py, from the store only


def _visibility(published: bool) -> str:
    return "In the gallery" if published else "Unlisted"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _clock(seconds: float) -> str:
    seconds = round(float(seconds or 0))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1e3:.1f} kB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]
