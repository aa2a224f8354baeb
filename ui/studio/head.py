"""The studio page's own HTML: what a shared studio link unfurls into, and its first paint.

Gradio's page template carries two sets of OpenGraph/Twitter tags: its own defaults first
("Gradio", a literal `{url}`, a picture hosted elsewhere), which chat apps' unfurlers read
(they take the first og:* tags), then a half-empty second set. It has no <title> and no
description. StudioDocument, an ASGI middleware around the app, rewrites the studio's HTML
(GET and HEAD of "/") on its way out:

- drops both of Gradio's sets and puts one of ours first in <head>: title, description,
  canonical, and OpenGraph/Twitter tags whose URLs are absolute, on the host the visitor
  used (X-Forwarded-Proto/Host, like the share pages: ui.urls.site_url);
- the preview picture is the gallery's newest published result's cover (/r/{id}/cover.png),
  else Atelier's own card (/studio-card.png, drawn by ui.store.covers.studio_card);
- inlines assets/studio_first_paint.css and puts the masthead in the HTML above
  <gradio-app>, so the first paint is ours and nothing moves as Gradio's components load;
  where visitors have a GPU budget (ui/gate/budget.py), the masthead shows what is left of
  this visitor's, kept up to date from /api/budget;
  Gradio's app script is preloaded but started after that first paint.

GradioAssetCache marks Gradio's own fingerprinted files (/assets/<name>-<hash>.js|css|...,
/theme.css?v=<hash>: a new content gets a new name) cacheable for a year, its /static/ files
for a day; Gradio sends them with no Cache-Control at all.

The query string is never echoed (a studio lock's `?studio_token=` must not leak into tags).
"""

from __future__ import annotations

import re
from html import escape

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.cards import Card, card_tags
from ui.gate import BudgetView, Gate
from ui.generation import Backend
from ui.settings import ASSETS
from ui.store import ResultStore
from ui.urls import site_url

TITLE = "Atelier · images, music and video from words"
DESCRIPTION = (
    "Make images, music and video from a few words in your browser (diffusers and MusicGen), "
    "then share them with a link or in the gallery."
)
CARD_PATH = "/studio-card.png"
CARD_ALT = "Atelier: images, music and video from a few words"

# Gradio's tags, in either set: <meta property="og:..." content="..." /> and name="twitter:...".
# Gradio 6.31 draws an empty media slot as <div class="empty" aria-label="Empty value"> with no
# role, and aria-label is not allowed on a plain div (axe: aria-prohibited-attr). Nothing in
# its API sets a role there, so a small observer gives those placeholders role="img": an empty
# picture/player slot, named by the label Gradio already gave it.
ARIA_FIX = (
    "new MutationObserver(()=>{for(const e of document.querySelectorAll('div.empty[aria-label]:not([role])'))"
    "e.setAttribute('role','img')}).observe(document.documentElement,{subtree:true,childList:true});"
)

# Gradio's app script, a module: on a fast connection it arrives and runs (seconds of work on a
# slow phone) before the browser paints anything, so the server-rendered masthead would wait
# for it. Preloaded at once, started just after the first frame (or half a second, whichever
# comes first: a background tab draws no frames).
_APP_SCRIPT = re.compile(r'<script type="module" crossorigin src="(\./assets/index-[A-Za-z0-9_-]+\.js)"></script>')
_APP_BOOT = (
    '<link rel="modulepreload" crossorigin href="{src}" />'
    "<script>(()=>{{let on=0;const go=()=>{{if(on++)return;const s=document.createElement('script');"
    "s.type='module';s.crossOrigin='';s.src='{src}';document.head.appendChild(s)}};"
    "requestAnimationFrame(()=>setTimeout(go));setTimeout(go,500)}})()</script>"
)

_GRADIO_TAG = re.compile(r'\s*<meta\s+(?:property="og:[^"]*"|name="twitter:[^"]*")\s+content="[^"]*"\s*/?>', re.S)
_CHARSET = '<meta charset="utf-8" />'


def head_tags(site: str, store: ResultStore) -> str:
    newest = store.list(published_only=True, limit=1)
    if newest:
        record = newest[0]
        prompt = " ".join(str(record.get("parameters", {}).get("prompt", "")).split())[:120]
        image, alt = f"{site}/r/{record['id']}/cover.png", f"Latest in the Atelier gallery: {prompt}"
    else:
        image, alt = f"{site}{CARD_PATH}", CARD_ALT
    url = f"{site}/"
    card = Card(url=url, title=TITLE, description=DESCRIPTION, image=(image, alt))
    tags = [
        f"<title>{escape(TITLE)}</title>",
        f'<meta name="description" content="{escape(DESCRIPTION)}" />',
        f'<link rel="canonical" href="{escape(url)}" />',
        *(f'<meta {attribute}="{key}" content="{escape(content)}" />' for attribute, key, content in card_tags(card)),
        '<meta name="theme-color" content="#6d28d9" />',
        f"<style>{(ASSETS / 'studio_first_paint.css').read_text()}</style>",
        f"<script>{ARIA_FIX}</script>",
    ]
    return "\n\t\t".join(tags)


def masthead_html(backend: Backend) -> str:
    where = {"local": "running on this machine", "hybrid": "on Modal GPUs, driven from here", "modal": "on Modal GPUs"}
    models = " · ".join(backend.defaults.values())
    return f"""<header class="masthead">
  <div class="brand">
    <span class="mark" aria-hidden="true"></span>
    <div>
      <h1>Atelier</h1>
      <p class="tagline">Images, music and video from a few words.</p>
    </div>
  </div>
  <nav class="links" aria-label="Atelier">
    <span class="badge" title="Default models: {escape(models)}">{escape(where.get(backend.where, backend.where))}</span>
    {BUDGET_SLOT}
    <a href="/gallery">Gallery</a>
    <a href="/docs">REST API</a>
  </nav>
  <p class="lede">Describe a picture, a piece of music or a scene, press Generate, and share what you make with a link.</p>
</header>
"""


BUDGET_SLOT = "<!-- gpu budget -->"
# The visitor's GPU time left, in the masthead (page-level: every tab spends it). Rendered with
# the page, then asked again of /api/budget when the visitor's history gains a result (checked
# locally every 2 s) and every 30 s while the page is in view.
_BUDGET_SCRIPT = (
    "<script>(()=>{const b=document.getElementById('gpu-budget');let n=-1,t=0;"
    "const ask=async()=>{t=Date.now();try{const r=await fetch('/api/budget',{cache:'no-store'});"
    "if(r.ok){const v=await r.json();b.textContent=v.summary;b.classList.toggle('spent',v.refills_in>0)}}catch(e){}};"
    "setInterval(()=>{const c=document.querySelectorAll('#history .history-card').length;"
    "if(c!==n){if(n>=0)ask();n=c}else if(!document.hidden&&Date.now()-t>30000)ask()},2000)})()</script>"
)


def budget_badge(view: BudgetView) -> str:
    """The masthead's GPU-time badge for one visitor; nothing when they have no budget."""
    if not view.limited:
        return ""
    spent = " spent" if view.refills_in else ""
    return (f'<span class="badge budget{spent}" id="gpu-budget" role="status" aria-live="polite" '
            f'title="GPU-seconds each visitor may use an hour, refilled evenly">{escape(view.summary)}</span>'
            + _BUDGET_SCRIPT)


def rewrite(html: str, tags: str, masthead: str) -> str:
    """Gradio's page with its og/twitter tags swapped for ours and the masthead above the app."""
    split = html.find("<script")  # the tags sit before the first script; the config after it holds user text
    split = split if split >= 0 else len(html)
    head = _GRADIO_TAG.sub("", html[:split])
    if _CHARSET in head:
        head = head.replace(_CHARSET, f"{_CHARSET}\n\t\t{tags}", 1)
    else:
        head = head.replace("<head>", f"<head>\n\t\t{tags}", 1)
    rest = html[split:].replace("<gradio-app", masthead + "<gradio-app", 1)
    rest = _APP_SCRIPT.sub(lambda m: _APP_BOOT.format(src=m.group(1)), rest, count=1)
    return head + rest


class StudioDocument:
    """ASGI middleware: rewrite the studio's HTML page (GET/HEAD "/"); every other response passes."""

    def __init__(self, app: ASGIApp, *, store: ResultStore, backend: Backend, gate: Gate) -> None:
        self.app, self.store, self.masthead, self.gate = app, store, masthead_html(backend), gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            html_page = start["status"] == 200 and any(
                k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in start["headers"])
            body = b"".join(chunks)
            if html_page:
                if scope["method"] == "GET":
                    request = Request(scope)
                    tags = head_tags(site_url(request), self.store)
                    visitor = self.gate.visitor(request.headers, request.client.host if request.client else None)
                    masthead = self.masthead.replace(BUDGET_SLOT, budget_badge(self.gate.budget.view(visitor)))
                    body = rewrite(body.decode("utf-8"), tags, masthead).encode("utf-8")
                    length = len(body)
                else:  # HEAD: no body to rewrite; the length a GET would have is unknown, so leave it out
                    length = None
                headers = [*headers, (b"cache-control", b"no-cache")]
                if length is not None:
                    headers.append((b"content-length", str(length).encode()))
            else:
                headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, hold)


_FINGERPRINTED = re.compile(r"^/assets/[^/]+-[A-Za-z0-9_-]{8,10}\.(?:js|css|woff2?|ttf|svg|png|wasm)$")


class GradioAssetCache:
    """ASGI middleware: Cache-Control on Gradio's static files, as served (200): a year on the
    fingerprinted ones (/assets/<name>-<hash>.*, /theme.css?v=<hash>), a day on /static/."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http":
            policy = None
        elif _FINGERPRINTED.match(path) or (path == "/theme.css" and b"v=" in scope.get("query_string", b"")):
            policy = b"public, max-age=31536000, immutable"
        elif path.startswith("/static/"):
            policy = b"public, max-age=86400"
        else:
            policy = None
        if policy is None:
            await self.app(scope, receive, send)
            return

        async def mark(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", policy)]}
            await send(message)

        await self.app(scope, receive, mark)
