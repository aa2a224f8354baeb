"""A result's share page, /r/{id}: its media (pictures, a player for music, a video with its poster),
prompt, facts (its guides and lineage among them), downloads, remix and animate links, one-click
Vary and Upscale (links that run them in the studio) and the owner's controls; and the preview
pictures (cover, thumbnail) its link unfurls with."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

from fasthtml.common import (
    H1,
    H2,
    A,
    Article,
    Audio,
    Button,
    Dd,
    Details,
    Div,
    Dl,
    Dt,
    Figure,
    Form,
    Html,
    Img,
    Input,
    Label,
    Main,
    Option,
    P,
    Section,
    Select,
    Span,
    Summary,
    Time,
    Video,
)
from starlette.requests import Request
from starlette.responses import Response

from models.requests import REQUESTS
from ui.cards import isolated
from ui.errors import NotFound
from ui.generation import FOLLOW_UPS
from ui.pages.adapter import adapter_facts, adapter_figure, adapter_summary, trigger_of, use_link
from ui.pages.layout import (
    KINDS,
    clip,
    clock,
    document,
    files_of,
    loras_text,
    not_found,
    size_label,
    visibility,
)
from ui.store import ResultStore, covers
from ui.store.moderation import REASONS  # ui.store's own module (its __init__ names it)
from ui.urls import media_path


def permalink_page(record: dict, site: str, asset) -> Html:
    rid, kind = record["id"], record.get("kind", "image")
    params = record.get("parameters", {})
    prompt = trigger_of(record) if kind == "training" else params.get("prompt", "")  # an adapter's: its trigger
    url = f"{site}/r/{rid}"
    return document(
        title=f"“{isolated(clip(prompt, 60))}” · Atelier",  # a tab's title: plain text's dir="auto"
        description=summary(record),
        canonical=url,
        image=(f"{site}/r/{rid}/cover.png", f"Preview of {kind}: {clip(prompt, 200)}"),
        audio=[(f"{site}{media_path(rid, f['name'])}", f["mime"]) for f in files_of(record, "audio/")],
        video=video_card(record, site),
        og_title=clip(prompt, 90),  # the card's tags are other apps' to show: as written
        indexable=record["published"],
        asset=asset,
        scripts=["pages.js"],
        main=Main(
            Article(
                media_figure(record),
                Div(
                    P(
                        Span(KINDS.get(kind, kind), cls="badge"),
                        Span(visibility(record["published"], record.get("moderation")), id="visibility",
                             cls="badge quiet"),
                        cls="badges",
                    ),
                    H1(prompt, cls="prompt", dir="auto"),  # a prompt's own direction, isolated from the page's
                    P(Span("Without: ", cls="label"), Span(params["negative_prompt"], dir="auto"), cls="negative")
                    if params.get("negative_prompt")
                    else None,
                    Div(
                        A("Use this adapter", href=use_link(record), cls="button primary") if kind == "training"
                        else A("Remix in the studio", href=remix_link(record), cls="button primary"),
                        A("Use as input", href=input_link(record), cls="button") if kind == "image" else None,
                        A("Animate", href=animate_link(record), cls="button") if kind == "image" else None,
                        *(follow_up_links(record) if kind == "image" else []),
                        *[
                            A(download_label(f, record), href=media_path(rid, f["name"]), download=f"atelier-{rid}-{f['name']}", cls="button")
                            for f in record.get("files", [])
                        ],
                        cls="actions",
                    ),
                    share_box(url),
                    Dl(*[part for term, value in facts(record) for part in (Dt(term), Dd(value))], cls="facts"),
                    owner_panel(record),
                    report_form(rid),
                    cls="details",
                ),
                cls=f"result result-{kind}",
                data_result_id=rid,
                data_published="true" if record["published"] else "false",
            ),
        ),
    )


def media_figure(record: dict) -> Figure:
    rid, prompt = record["id"], record.get("parameters", {}).get("prompt", "")
    if record.get("kind") == "training":
        return adapter_figure(record)
    if record.get("kind") == "music":
        players = [Audio(controls=True, preload="metadata", src=media_path(rid, f["name"])) for f in files_of(record, "audio/")]
        return Figure(
            Img(src=f"/r/{rid}/cover.png", alt="Waveform of this music", width=1200, height=630, cls="cover"),
            *players,
            cls="media media-music",
        )
    images = files_of(record, "image/")
    params = record.get("parameters", {})
    size = {"width": params["width"], "height": params["height"]} if "width" in params and "height" in params else {}
    if record.get("kind") == "video":
        return video_figure(record, size)
    return Figure(
        *[
            A(Img(src=media_path(rid, f["name"]), alt=isolated(prompt), **size), href=media_path(rid, f["name"]),
              title="Full size")
            for f in images
        ],
        cls=f"media media-image count-{len(images)}",
    )


def video_figure(record: dict, size: dict) -> Figure:
    """The clip, playable where it lies (playsinline: not full screen on phones), its poster shown
    until it plays; its size set, so the page doesn't jump when the video loads."""
    rid = record["id"]
    [clip_file, *_] = files_of(record, "video/")
    posters = files_of(record, "image/")
    poster = {"poster": media_path(rid, posters[0]["name"])} if posters else {}
    return Figure(
        Video(controls=True, playsinline=True, preload="metadata", src=media_path(rid, clip_file["name"]),
              aria_label=f"Video: {isolated(clip(record.get('parameters', {}).get('prompt', ''), 200))}", **poster, **size),
        cls="media media-video",
    )


def video_card(record: dict, site: str) -> tuple[str, str, int, int] | None:
    """og:video's URL, type and size, for a video result."""
    videos, params = files_of(record, "video/"), record.get("parameters", {})
    if record.get("kind") != "video" or not videos:
        return None
    return f"{site}{media_path(record['id'], videos[0]['name'])}", videos[0]["mime"], params["width"], params["height"]


def share_box(url: str) -> Div:
    return Div(
        Label("Link", fr="share-url", cls="label"),
        Input(id="share-url", readonly=True, value=url, cls="share-url"),
        Button("Copy", type="button", id="copy-link", hidden=True, cls="button small"),  # shown by pages.js
        cls="share",
    )


def owner_panel(record: dict) -> Section:
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


def report_form(rid: str) -> Details:
    """Anyone may tell the owner of the site something is wrong with a result (a plain form: no JS needed)."""
    return Details(
        Summary("Report"),
        Form(
            Label("What is wrong with it?", fr="report-reason", cls="label"),
            Select(*[Option(label, value=key) for key, label in REASONS.items()], name="reason", id="report-reason"),
            Button("Send report", type="submit", cls="button small"),
            method="post", action=f"/r/{rid}/report",
        ),
        cls="report",
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
    if params.get("loras"):  # as the text form the request schema reads
        query.append(("loras", loras_text(params["loras"])))
    return "/?" + urlencode(query + guide_query(record.get("guides") or {}))


def guide_query(guides: dict) -> list[tuple[str, str]]:
    """The first control and reference (what the studio's Guide panel holds), by their pictures' hashes:
    the studio puts the pictures back while it still has them (ui/studio/guide_panel.py reads these)."""
    query = []
    for control in (guides.get("controls") or [])[:1]:
        how = "annotate" if control.get("preprocess", True) else "as-is"
        query.append(("guide", f"{control['mode']}:{control['scale']:g}:{how}:{control['image_sha256'][:16]}"))
    for reference in (guides.get("references") or [])[:1]:
        query.append(("reference", f"{reference['scale']:g}:{reference['image_sha256'][:16]}"))
    return query


def follow_up_links(record: dict) -> list[A]:
    """Vary (subtle), Vary (strong), Upscale 2×: each opens the studio, which runs it on this result at once."""
    return [A(label, href="/?" + urlencode([("kind", "image"), ("follow", action), ("result", record["id"])]),
              cls="button", rel="nofollow") for action, label in FOLLOW_UPS.items()]


def input_link(record: dict) -> str:
    """The remix link plus this result's image in the studio's image input, to start from it."""
    return remix_link(record) + "&" + urlencode([("input", record["id"])])


def animate_link(record: dict) -> str:
    """The studio's Video tab with this result's image as the start picture, and its prompt."""
    prompt = record.get("parameters", {}).get("prompt", "")
    return "/?" + urlencode([("kind", "video"), ("prompt", prompt), ("input", record["id"])])


def _query_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)  # str(float) round-trips exactly


def facts(record: dict) -> list[tuple[str, object]]:
    params, model = record.get("parameters", {}), record.get("model", {})
    seconds = record.get("seconds", {})
    if record.get("kind") == "training":
        return [(term, value) for term, value in adapter_facts(record) + made(record) if value is not None]
    facts: list[tuple[str, object]] = [("Model", model.get("preset") or params.get("preset", "?"))]
    if record.get("kind") == "music":
        audio = record.get("audio", {})
        facts += [
            ("Length", clock(audio.get("seconds", params.get("duration", 0)))),
            ("Format", str(params.get("format", "")).upper()),
            ("Temperature", params.get("temperature")),
            ("Top-k", params.get("top_k")),
            ("Guidance", params.get("guidance")),
        ]
    elif record.get("kind") == "video":
        facts += video_facts(record)
    else:
        facts += [
            ("Size", f"{params.get('width')} × {params.get('height')} px"),
            ("Steps", params.get("steps")),
            ("Guidance", params.get("guidance")),
        ]
        if params.get("num_images", 1) > 1:
            facts.append(("Images", params["num_images"]))
        if record.get("input"):  # started from an image: which way, and how much was redrawn
            facts.append(("Input", f"{record['input']['mode'].capitalize()}, strength {params.get('strength', 0):g}"))
        if params.get("loras"):
            facts.append(("LoRA adapters", ", ".join(f"{c['id']} × {c['scale']:g}" for c in params["loras"])))
        facts += guide_facts(record)
    facts.append(("Seed", record.get("seed", params.get("seed"))))
    if (safety := record.get("safety") or {}).get("message"):  # flagged: blurred, never published
        facts.append(("Safety check", safety["message"]))
    if "generate" in seconds:
        facts.append(("Time taken", f"{seconds['generate']:.1f} s" + (f" on {model['device']}" if model.get("device") else "")))
    facts += made(record)
    return [(term, value) for term, value in facts if value is not None]


def made(record: dict) -> list[tuple[str, object]]:
    if "created_at" not in record:
        return []
    when = time.gmtime(record["created_at"])
    return [("Made", Time(time.strftime("%d %b %Y, %H:%M UTC", when), datetime=time.strftime("%Y-%m-%dT%H:%M:%SZ", when)))]


def video_facts(record: dict) -> list[tuple[str, object]]:
    params = record.get("parameters", {})
    facts = [
        ("Length", f"{record.get('duration', 0):.1f} s, {params.get('frames')} frames at {params.get('fps')} fps"),
        ("Size", f"{params.get('width')} × {params.get('height')} px"),
        ("Steps", params.get("steps")),
        ("Guidance", params.get("guidance")),
    ]
    if record.get("input"):
        facts.append(("Input", "A start picture (image to video)"))
    return facts


def guide_facts(record: dict) -> list[tuple[str, object]]:
    """Its controls and references (their settings; the pictures are not kept), and what it was made from."""
    guides, lineage = record.get("guides") or {}, record.get("lineage") or {}
    found: list[tuple[str, object]] = []
    if guides.get("controls"):
        found.append(("Controls", ", ".join(f"{c['mode']} × {c['scale']:g}" for c in guides["controls"])))
    if guides.get("references"):
        found.append(("Reference images", ", ".join(f"× {r['scale']:g}" for r in guides["references"])))
    if lineage.get("parent"):
        how = FOLLOW_UPS.get(lineage.get("action") or "", "Started from")
        found.append(("Made from", Span(f"{how} of ", A("this result", href=f"/r/{lineage['parent']}"))))
    return found


def summary(record: dict) -> str:
    params = record.get("parameters", {})
    if record.get("kind") == "training":
        return adapter_summary(record)
    preset = record.get("model", {}).get("preset") or params.get("preset", "")
    if record.get("kind") == "music":
        length = clock(record.get("audio", {}).get("seconds", params.get("duration", 0)))
        return f"{length} of music made with Atelier ({preset}, seed {record.get('seed')})."
    if record.get("kind") == "video":
        return (f"A {record.get('duration', 0):.1f} s video made with Atelier ({preset}, "
                f"{params.get('width')}×{params.get('height')}, seed {record.get('seed')}).")
    return f"An image made with Atelier ({preset}, {params.get('width')}×{params.get('height')}, seed {record.get('seed')})."


def download_label(f: dict, record: dict) -> str:
    images = files_of(record, "image/")
    which = f" image {images.index(f) + 1}" if len(images) > 1 and f in images else ""
    return f"Download{which} {f['name'].rsplit('.', 1)[-1].upper()} · {size_label(f.get('bytes', 0))}"


# --- the preview pictures ------------------------------------------------------------------------


async def picture(req: Request, store: ResultStore, result_id: str, size, fmt: str, asset) -> Response:
    """A result's cover or thumbnail, drawn from its first image or audio file (ui/store/covers.py)."""
    try:
        record = store.get(result_id)
        media = files_of(record, "audio/" if record.get("kind") == "music" else "image/") or record["files"]
        path, mime = store.media_path(result_id, media[0]["name"])
    except (NotFound, KeyError, IndexError):
        return not_found(asset)
    tag = f'"{result_id}-{size[0]}x{size[1]}-v1"'
    headers = {"Cache-Control": "public, max-age=3600", "ETag": tag}  # short: a deletion should stick
    if req.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=headers)
    data = await asyncio.to_thread(covers.render, path, mime, tuple(size), cover_label(record), fmt)
    return Response(data, media_type=f"image/{fmt.lower()}", headers=headers)


def cover_label(record: dict) -> str:
    if record.get("kind") != "music":
        return ""
    params = record.get("parameters", {})
    length = clock(record.get("audio", {}).get("seconds", params.get("duration", 0)))
    preset = record.get("model", {}).get("preset") or params.get("preset", "")
    return " · ".join(part for part in ("Music", length, str(params.get("format", "")).upper(), preset) if part)
