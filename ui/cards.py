"""The link-preview card: the OpenGraph and Twitter tags a chat app or a social site reads to
unfurl a link. The share pages (FastHTML, ui/pages/layout.py) and the studio (Gradio's page,
rewritten by ui/studio/head.py) render the same tags, each in its own way, from here.

A visitor's words that a page shows in text with no markup of its own (its title, an alt
text) are wrapped by `isolated` as <bdi> wraps them in markup, so that bidirectional controls
in a prompt (U+202E and friends) can't turn the text around them. The card's own tags carry
the words as written: other apps show them, in their own layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from ui.store import covers

FSI, PDI = "\u2068", "\u2069"  # FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE


def isolated(text: str) -> str:
    """Plain text's <bdi>: its own direction inside, and any override it opens closed at its end."""
    return f"{FSI}{text}{PDI}"


@dataclass(frozen=True)
class Card:
    url: str  # absolute: unfurlers don't resolve relative URLs
    title: str
    description: str
    image: tuple[str, str] | None = None  # (absolute URL of a cover PNG, its alt text)
    audio: tuple[tuple[str, str], ...] = ()  # (absolute URL, MIME type) of each clip
    video: tuple[str, str, int, int] | None = None  # (absolute URL, MIME type, width, height) of a video


def card_tags(card: Card) -> list[tuple[str, str, str]]:
    """The card as (attribute, key, content) triples: ("property", "og:title", ...) is
    <meta property="og:title" content="...">."""
    og = [("og:site_name", "Atelier"), ("og:type", "website"), ("og:url", card.url), ("og:title", card.title),
          ("og:description", card.description)]
    twitter = [("twitter:card", "summary_large_image" if card.image else "summary"),
               ("twitter:title", card.title), ("twitter:description", card.description)]
    if card.image:
        src, alt = card.image
        width, height = covers.COVER_SIZE
        og += [("og:image", src), ("og:image:type", "image/png"), ("og:image:width", str(width)),
               ("og:image:height", str(height)), ("og:image:alt", alt)]
        twitter += [("twitter:image", src), ("twitter:image:alt", alt)]
    for src, mime in card.audio:
        og += [("og:audio", src), ("og:audio:type", mime)]
    if card.video:
        src, mime, width, height = card.video
        og += [("og:video", src)] + ([("og:video:secure_url", src)] if src.startswith("https:") else [])
        og += [("og:video:type", mime), ("og:video:width", str(width)), ("og:video:height", str(height))]
    return [("property", key, content) for key, content in og] + [("name", key, content) for key, content in twitter]
