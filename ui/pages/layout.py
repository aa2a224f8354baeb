"""The frame every share page wears, and what the pages share: head tags (OpenGraph, Twitter,
CSP-friendly htmx), header and footer, error pages, responses, and small formatters.

`asset` arguments are the site's versioned-asset function (ui/pages/site.py): a file name in,
its URL with a content hash out, so a page's CSS and JS can be cached for good.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

from fasthtml.common import (
    H1,
    A,
    Body,
    Div,
    Footer,
    Head,
    Header,
    Html,
    Link,
    Main,
    Meta,
    Nav,
    P,
    Script,
    Span,
    Title,
    to_xml,
)
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ui.cards import Card, card_tags

ASSET_ROUTE = "/pages-assets"
ASSET_TYPES = {"pages.css": "text/css", "pages.js": "text/javascript", "htmx.min.js": "text/javascript"}

KINDS = {"image": "Image", "music": "Music", "video": "Video", "training": "LoRA adapter"}

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


# --- the frame every page shares ---------------------------------------------------------------


def document(*, title, description, canonical, image, og_title, indexable, asset, scripts, main, audio=(),
             video=None) -> Html:
    meta = [
        Meta(charset="utf-8"),
        Meta(name="viewport", content="width=device-width, initial-scale=1"),
        Title(title),
        Meta(name="description", content=description),
        Link(rel="canonical", href=canonical),
    ]
    card = Card(url=canonical, title=og_title, description=description, image=image, audio=tuple(audio),
                video=video)
    meta += [Meta(**{attribute: key, "content": content}) for attribute, key, content in card_tags(card)]
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
            Footer(P("Made with Atelier: images, music and video from words."), cls="site-footer"),
        ),
        lang="en",
    )


def not_found(asset) -> HTMLResponse:
    return problem(
        404,
        "Nothing here",
        "We couldn't find that result. Its maker may have deleted it, or the link may be incomplete.",
        asset,
    )


def problem(status: int, heading: str, message: str, asset) -> HTMLResponse:
    page = document(
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
    return html_response(page, status=status, indexable=False)


# --- responses ------------------------------------------------------------------------------------


def html_response(content, status: int = 200, indexable: bool = True, vary: str | None = None) -> HTMLResponse:
    headers = dict(SECURITY_HEADERS)
    headers["Cache-Control"] = "no-cache"  # publishing changes a page: always revalidate
    if not indexable:
        headers["X-Robots-Tag"] = "noindex"
    if vary:
        headers["Vary"] = vary
    return HTMLResponse(to_xml(content), status_code=status, headers=headers)


def json_ok(body: dict) -> Response:
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=308)


# --- small helpers --------------------------------------------------------------------------------


def files_of(record: dict, mime_prefix: str) -> list[dict]:
    return [f for f in record.get("files", []) if f.get("mime", "").startswith(mime_prefix)]


def visibility(published: bool, moderation: str | None = None) -> str:
    if published and moderation == "pending":  # published under gallery review (ui/store/moderation.py)
        return "Waiting for approval"
    return "In the gallery" if published else "Unlisted"


def loras_text(loras: list[dict]) -> str:
    """Adapters as the text form an image request reads in a link: "id:scale,id:scale"."""
    return ",".join(f"{c['id']}:{c['scale']}" for c in loras)


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clock(seconds: float) -> str:
    seconds = round(float(seconds or 0))
    return f"{seconds // 60}:{seconds % 60:02d}"


def size_label(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1e3:.1f} kB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]
