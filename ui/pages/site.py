"""Share pages: a permalink for every result and a gallery of published ones (FastHTML).
This module holds the routes; what each page shows is in permalink.py, gallery.py and
owner.py, and the frame they share in layout.py.

    GET  /r/{id}                  one result: media, prompt, parameters, downloads, a remix link,
                                  and the OpenGraph/Twitter tags that make a shared link unfurl
    GET  /r/{id}/cover.png        the 1200×630 preview those tags point at (a waveform for music)
    GET  /r/{id}/thumb.webp       the gallery card's picture (480 px; thumb-240.webp: 240 px)
    POST /r/{id}/publish          owner only (header X-Owner-Token): list it in the gallery
    POST /r/{id}/unpublish        owner only: back to unlisted (still reachable by its link)
    POST /r/{id}/delete           owner only: gone for good
    POST /r/{id}/report           anyone: tell the owner of the site something is wrong with it (once per address)
    GET  /gallery                 published results, newest first; ?kind=image|music|video|training; ?q=<words> searches
                                  the prompts; ?before=<id> pages on (htmx asks for the next cards only)
    GET  /pages-assets/{name}     the pages' CSS and JS, and the vendored htmx: no CDN at run time
    GET  /admin                   the deployment owner's moderation page (ATELIER_ADMIN_TOKEN; admin.py)
    POST /admin/{id}/{action}     hide, unhide, approve, dismiss (its reports) or delete one result

Server-rendered, and every string a visitor typed goes through FastHTML's escaping (text and
attributes alike); the small JS (assets/pages.js) only adds the owner's controls and a copy
button, so the pages read fine without it.

The handlers are module-level functions on FastHTML's APIRouter (`rt`); they reach the
result store through the request (ui.deps.store_of). They are lifted onto the FastAPI router
rather than mounting a FastHTML app: the Gradio studio is mounted at "/", and a mount at
/gallery would not match "/gallery" itself (only "/gallery/..."), so the root mount would take it. As plain routes registered before
the Gradio mount, "/gallery" and "/r/{id}" match exactly. FastHTML's own middleware never
runs that way; these pages need none (no sessions).
"""

from __future__ import annotations

import secrets
from functools import cache

from fastapi import FastAPI
from fasthtml.common import APIRouter, FastHTML
from starlette.requests import Request
from starlette.responses import FileResponse

from ui.deps import store_of
from ui.errors import NotFound
from ui.pages import admin
from ui.pages.gallery import MAX_SEARCH, PAGE_SIZE, gallery_cards, gallery_page
from ui.pages.layout import (
    ASSET_ROUTE,
    ASSET_TYPES,
    KINDS,
    clip,
    digest,
    html_response,
    not_found,
    problem,
    redirect,
)
from ui.pages.owner import owner_action
from ui.pages.permalink import permalink_page, picture
from ui.settings import ASSETS, ApiSettings, ModerationSettings
from ui.store import ID_PATTERN, covers
from ui.urls import site_url


def add_pages(app: FastAPI) -> None:
    """Put the share pages on `app`'s router. Call it before mounting Gradio at "/"."""
    # Read once, here: /admin's token, and how a visitor's address is found (reports count once per address).
    app.state.moderation, app.state.api_settings = ModerationSettings.from_env(), ApiSettings.from_env()
    app.router.routes.extend(build_pages().routes)


def build_pages() -> FastHTML:
    """A FastHTML app holding the pages' routes, with FastHTML's request handling around each."""
    # FastHTML reads or writes a `.sesskey` file in the working directory unless it is given
    # a key, and loads htmx and friends from a CDN unless its default headers are off. These
    # pages use no sessions, so the key is a throwaway.
    pages = FastHTML(default_hdrs=False, sess_cls=None, secret_key=secrets.token_urlsafe(32))
    rt.to_app(pages)
    return pages


rt = APIRouter()


@cache
def _version(name: str) -> str:
    return digest(ASSETS / name)


def asset(name: str) -> str:
    """A page asset's URL, versioned by its content: it can be cached for good."""
    return f"{ASSET_ROUTE}/{name}?v={_version(name)}"


# --- one result ---------------------------------------------------------------------------


@rt.get("/r/{result_id}")
def permalink(req: Request, result_id: str):
    try:
        record = store_of(req).get(result_id)
    except NotFound:
        return not_found(asset)
    return html_response(permalink_page(record, site_url(req), asset), indexable=record["published"])


@rt.get("/r/{result_id}/")
def permalink_slash(result_id: str):
    return redirect(f"/r/{result_id}" if ID_PATTERN.match(result_id) else "/gallery")


@rt.get("/r/{result_id}/cover.png")
async def cover(req: Request, result_id: str):
    return await picture(req, store_of(req), result_id, covers.COVER_SIZE, "PNG", asset)


@rt.get("/r/{result_id}/thumb.webp")
async def thumb(req: Request, result_id: str):
    return await picture(req, store_of(req), result_id, covers.THUMB_SIZE, "WEBP", asset)


@rt.get("/r/{result_id}/thumb-240.webp")
async def thumb_small(req: Request, result_id: str):
    return await picture(req, store_of(req), result_id, covers.THUMB_SMALL, "WEBP", asset)


# --- the owner's actions (ui/pages/owner.py) ------------------------------------------------


@rt.post("/r/{result_id}/publish")
async def publish(req: Request, result_id: str):
    return await owner_action(store_of(req), req, result_id, "publish")


@rt.post("/r/{result_id}/unpublish")
async def unpublish(req: Request, result_id: str):
    return await owner_action(store_of(req), req, result_id, "unpublish")


@rt.post("/r/{result_id}/delete")
async def delete(req: Request, result_id: str):
    return await owner_action(store_of(req), req, result_id, "delete")


@rt.post("/r/{result_id}/report")
async def report(req: Request, result_id: str):
    return await admin.report(req, store_of(req), result_id, asset)


# --- the deployment owner's page (ui/pages/admin.py) -------------------------------------------


@rt.get("/admin")
def admin_page(req: Request):
    return admin.admitted(req, asset) or admin.page(req, store_of(req), asset)


@rt.get("/admin/")
def admin_slash():
    return redirect("/admin")


@rt.post("/admin/{result_id}/{action}")
async def admin_action(req: Request, result_id: str, action: str):
    return await admin.act(req, store_of(req), result_id, action, asset)


# --- the gallery --------------------------------------------------------------------------


@rt.get("/gallery")
def gallery(req: Request, kind: str | None = None, before: str | None = None, q: str | None = None):
    kind = kind or None
    if kind is not None and kind not in KINDS:
        return problem(400, "No such kind", f"The gallery shows images, music, video or adapters, not “{clip(kind, 40)}”.", asset)
    if before is not None and not ID_PATTERN.match(before):
        return problem(400, "Broken page link", "That gallery page link is incomplete.", asset)
    search = " ".join((q or "").split())[:MAX_SEARCH] or None
    found = store_of(req).list(published_only=True, kind=kind, before=before, limit=PAGE_SIZE + 1, search=search)
    records, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    cards = gallery_cards(records, kind, more, search, first_page=before is None and "hx-request" not in req.headers)
    if "hx-request" in req.headers:  # the "More" button: just the next cards
        return html_response(cards, vary="HX-Request")
    page = gallery_page(records, cards, kind, before, site_url(req), asset, search)
    return html_response(page, indexable=search is None, vary="HX-Request")


@rt.get("/gallery/")
def gallery_slash(req: Request):
    return redirect("/gallery" + (f"?{req.url.query}" if req.url.query else ""))


# --- assets -------------------------------------------------------------------------------


@rt.get(ASSET_ROUTE + "/{name}")
def assets(name: str, v: str | None = None):
    if name not in ASSET_TYPES:
        return not_found(asset)
    fresh = v == _version(name)  # versioned URLs never change: cache them for good
    caching = "public, max-age=31536000, immutable" if fresh else "no-cache"
    return FileResponse(ASSETS / name, media_type=ASSET_TYPES[name], headers={"Cache-Control": caching})


# Anything else under these prefixes is ours to turn away (last: the routes above win),
# with a page, rather than falling through to the studio mounted at "/".
@rt.get("/r/{rest:path}")
def unknown_result_path(rest: str):
    return not_found(asset)


@rt.get(ASSET_ROUTE + "/{rest:path}")
def unknown_asset(rest: str):
    return not_found(asset)
