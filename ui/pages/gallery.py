"""The gallery, /gallery: published results newest first, filtered by kind, searched by prompt,
paged with htmx (the "More" button asks for the next cards only; without JS it is an ordinary
link). The search box is a plain GET form: it works without JS, and a search is a link."""

from __future__ import annotations

from urllib.parse import urlencode

from fasthtml.common import H1, A, Button, Div, Form, Html, Img, Input, Label, Li, Main, Nav, P, Span, Ul

from ui.pages.adapter import card_detail, trigger_of
from ui.pages.layout import clock, document
from ui.store import covers

PAGE_SIZE = 24
EAGER = 4  # cards in view on a first load (two rows on a phone): fetched at once, the first first
SIZES = "(max-width: 640px) 46vw, 280px"  # a card's width in CSS pixels (assets/pages.css .cards)
MAX_SEARCH = 200  # characters of a search kept (the store uses its first few words)


def gallery_page(
    records: list[dict], cards, kind: str | None, before: str | None, site: str, asset, search: str | None = None
) -> Html:
    heading = {"image": "Images", "music": "Music", "video": "Video"}.get(kind, "Everything")
    newest = records[0] if records else None
    if search:
        empty = f"Nothing shared here matches “{search}”." if before is None else "No more results."
    else:
        empty = "Nothing shared here yet." if before is None else "No more results."
    return document(
        title=f"“{search}” · Gallery · Atelier" if search else "Gallery · Atelier",
        description="Images, music and video people made with Atelier and chose to share.",
        canonical=f"{site}/gallery" + (f"?kind={kind}" if kind else ""),
        image=(f"{site}/r/{newest['id']}/cover.png", "The newest shared result") if newest else None,
        og_title="The Atelier gallery",
        indexable=before is None and not search,  # searches are endless pages of repeats to a crawler
        asset=asset,
        scripts=["htmx.min.js", "pages.js"],
        main=Main(
            Div(
                Div(H1("Gallery"), P("Images, music and video people made here and chose to share.", cls="lede")),
                Nav(
                    *[
                        A(label, href=gallery_url(k, search), aria_current="page" if k == kind else None)
                        for k, label in ((None, "Everything"), ("image", "Images"), ("music", "Music"), ("video", "Video"))
                    ],
                    cls="filters",
                    aria_label="Show",
                ),
                search_form(kind, search),
                cls="gallery-head",
            ),
            Ul(cards, id="cards", cls="cards", aria_label=heading)
            if records
            else Div(
                P(empty),
                P("Make something in the ", A("studio", href="/"), ", open its link, and press Publish."),
                cls="empty",
            ),
            cls="gallery",
        ),
    )


def search_form(kind: str | None, search: str | None) -> Form:
    """Search the prompts: a GET form, so it works without JS and a search is a link to share."""
    return Form(
        Label("Search prompts", fr="gallery-search", cls="visually-hidden"),
        Input(type="search", name="q", id="gallery-search", value=search or "", placeholder="Search prompts",
              maxlength=MAX_SEARCH, autocomplete="off"),
        *([Input(type="hidden", name="kind", value=kind)] if kind else []),
        Button("Search", type="submit", cls="button"),
        action="/gallery",
        method="get",
        role="search",
        cls="gallery-search",
    )


def gallery_url(kind: str | None, search: str | None = None) -> str:
    query = urlencode({k: v for k, v in (("kind", kind), ("q", search)) if v})
    return "/gallery" + (f"?{query}" if query else "")


def gallery_cards(
    records: list[dict], kind: str | None, more: bool, search: str | None = None, first_page: bool = True
) -> tuple:
    """The cards; on a page's first load the top ones load eagerly (the first is its LCP),
    while cards the "More" button brings in load lazily."""
    cards = [card(r, position=i if first_page else EAGER + i) for i, r in enumerate(records)]
    if more:
        query = urlencode({k: v for k, v in (("kind", kind), ("q", search), ("before", records[-1]["id"])) if v})
        cards.append(
            Li(
                A("More", href=f"/gallery?{query}", hx_get=f"/gallery?{query}", hx_target="closest li", hx_swap="outerHTML", cls="button"),
                cls="more",
            )
        )
    return tuple(cards)


def card(record: dict, position: int = EAGER) -> Li:
    rid, kind = record["id"], record.get("kind", "image")
    params = record.get("parameters", {})
    if kind == "music":
        detail = f"Music · {clock(record.get('audio', {}).get('seconds', params.get('duration', 0)))}"
    elif kind == "video":
        detail = f"Video · {record.get('duration', 0):.1f} s"
    elif kind == "training":
        detail = card_detail(record)
    else:
        detail = f"Image · {params.get('width')}×{params.get('height')}"
    return Li(
        A(
            Img(
                src=f"/r/{rid}/thumb.webp",
                srcset=f"/r/{rid}/thumb-240.webp {covers.THUMB_SMALL[0]}w, /r/{rid}/thumb.webp {covers.THUMB_SIZE[0]}w",
                sizes=SIZES,
                alt="",
                loading="eager" if position < EAGER else "lazy",
                fetchpriority="high" if position == 0 else None,
                decoding="async",
                width=covers.THUMB_SIZE[0],
                height=covers.THUMB_SIZE[1],
            ),
            Span(detail, cls="card-kind"),
            Span(trigger_of(record) if kind == "training" else params.get("prompt", ""), cls="card-prompt",
                 dir="auto"),  # isolated: see permalink.py
            href=f"/r/{rid}",
        ),
        cls=f"card card-{kind}",
    )
