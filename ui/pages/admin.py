"""/admin, for the owner of the deployment: reported results, then recent public ones, each with
Hide (or Unhide), Approve (under gallery review), Dismiss reports and Delete; and a visitor's
Report from a share page. The routes are in site.py; what they do and show is here.

Who gets in: ATELIER_ADMIN_TOKEN, sent as `Authorization: Bearer <token>`, or once as
`/admin?admin_token=<token>`, which sets a cookie (derived from the token, never the token
itself; HttpOnly, SameSite=Strict, on /admin only) and redirects to /admin without it, as the
studio's lock does. Compared in constant time (ui/gate/visitors.py), never logged or echoed.
Unset, there is no /admin (404). The actions are POSTed forms; one authorised by the cookie must
come from this site's own page (Origin, else Referer), so no other site can post them.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from urllib.parse import urlsplit

from fasthtml.common import H1, H2, A, Button, Div, Form, Img, Li, Main, P, Section, Span, Ul
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ui.errors import NotFound
from ui.gate import bearer_token, cookie_value, token_matches, visitor_of
from ui.pages.layout import clip, document, html_response, not_found, problem
from ui.settings import ApiSettings, ModerationSettings
from ui.store import ID_PATTERN, ResultStore
from ui.store.moderation import APPROVED, HIDDEN, PENDING, REASONS  # ui.store's own module (its __init__ names it)
from ui.urls import site_url

ADMIN_COOKIE = "atelier_admin"
ADMIN_QUERY = "admin_token"
LISTED = 60  # results shown in each list
ACTIONS = ("hide", "unhide", "approve", "dismiss", "delete")


def settings_of(req: Request) -> tuple[ModerationSettings, ApiSettings]:
    """Read once, when the pages are added (ui/pages/site.py add_pages)."""
    return req.app.state.moderation, req.app.state.api_settings


def admitted(req: Request, asset) -> Response | None:
    """None if the request is the deployment owner's; else what to answer instead."""
    token = settings_of(req)[0].admin_token
    if token is None:
        return not_found(asset)
    if token_matches(bearer_token(req.headers), (token,)):
        return None
    expected = cookie_value(token, b"atelier admin cookie")
    if hmac.compare_digest(req.cookies.get(ADMIN_COOKIE, ""), expected) and _same_site(req):
        return None
    if req.method == "GET" and token_matches(req.query_params.get(ADMIN_QUERY), (token,)):
        response = RedirectResponse("/admin", 303)  # the token leaves the address bar and the history
        response.set_cookie(ADMIN_COOKIE, expected, max_age=7 * 24 * 3600, path="/admin", httponly=True,
                            samesite="strict", secure=req.url.scheme == "https")
        return response
    return problem(401, "For the owner of this site", "This page needs the admin token: open it with the link "
                   "you were given (it ends in ?admin_token=...), or send the token as a bearer token.", asset)


def _same_site(req: Request) -> bool:
    """A cookie's request that changes something must come from this site's own page."""
    if req.method in ("GET", "HEAD"):
        return True
    source = req.headers.get("origin") or req.headers.get("referer") or ""
    return urlsplit(source).netloc == urlsplit(site_url(req)).netloc != ""


async def act(req: Request, store: ResultStore, result_id: str, action: str, asset) -> Response:
    """One of ACTIONS on one result, then back to /admin."""
    if (refused := admitted(req, asset)) is not None:
        return refused
    if action not in ACTIONS or not ID_PATTERN.match(result_id):
        return not_found(asset)
    try:
        if action == "delete":
            await asyncio.to_thread(store.remove, result_id)
        elif action == "dismiss":
            await asyncio.to_thread(store.moderation.dismiss, result_id)
        else:
            state = {"hide": HIDDEN, "unhide": None, "approve": APPROVED}[action]
            await asyncio.to_thread(store.moderation.decide, result_id, state)
    except NotFound:
        return not_found(asset)
    return RedirectResponse("/admin", 303)


async def report(req: Request, store: ResultStore, result_id: str, asset) -> Response:
    """A visitor's report from a share page (a form: works without JS): counted once per visitor
    (a token's holder, or an address: the gate's visitors, ui/gate/visitors.py)."""
    reason = (await req.form()).get("reason")
    if reason not in REASONS:
        return problem(400, "Choose a reason", "Pick what is wrong with it from the list, then send the report.", asset)
    try:
        store.get(result_id)
    except NotFound:
        return not_found(asset)
    who = visitor_of(req.headers, req.client.host if req.client else None, settings_of(req)[1]).id
    await asyncio.to_thread(store.moderation.report, result_id, who, reason)
    return problem(200, "Thanks for telling us", "The owner of this site will look at it.", asset)


def page(req: Request, store: ResultStore, asset) -> Response:
    review = store.moderation.review
    reported, recent = store.moderation.reported(LISTED), store.moderation.recent(LISTED)
    return html_response(document(
        title="Moderation · Atelier", description="Reported and recent public results.", canonical="/admin",
        image=None, og_title="Moderation", indexable=False, asset=asset, scripts=[],
        main=Main(
            H1("Moderation"),
            P("Gallery review is on: a published result joins the gallery once you approve it." if review
              else "Published results join the gallery at once (ATELIER_GALLERY_REVIEW=1 makes them wait for you)."),
            Section(H2(f"Reported ({len(reported)})"), _cards(reported, review, "Nothing has been reported.")),
            Section(H2("Recent public results"), _cards(recent, review, "Nothing has been published yet.")),
            cls="admin",
        ),
    ), indexable=False)


def _cards(rows: list[dict], review: bool, empty: str):
    if not rows:
        return P(empty, cls="hint")
    return Ul(*[_card(row, review) for row in rows], cls="admin-cards")


def _card(row: dict, review: bool) -> Li:
    record, state = row["record"], row["state"]
    rid, prompt = record["id"], (record.get("parameters") or {}).get("prompt", "")
    picture = Span("hidden", cls="admin-thumb hidden-thumb") if state == HIDDEN else \
        Img(src=f"/r/{rid}/thumb-240.webp", alt="", width=120, height=63, loading="lazy", cls="admin-thumb")
    badges = [label for label, shown in (("In the gallery", row["published"] and state not in (HIDDEN, PENDING)),
                                          ("Waiting for approval", row["published"] and state == PENDING and review),
                                          ("Unlisted", not row["published"]), ("Hidden", state == HIDDEN)) if shown]
    reasons = ", ".join(REASONS.get(r["reason"], r["reason"]) for r in row["reasons"][-5:])
    buttons = [_action(rid, "unhide" if state == HIDDEN else "hide", "Unhide" if state == HIDDEN else "Hide")]
    if review and state == PENDING:
        buttons.append(_action(rid, "approve", "Approve"))
    if row["reports"]:
        buttons.append(_action(rid, "dismiss", "Dismiss reports"))
    buttons.append(_action(rid, "delete", "Delete for good", danger=True))
    return Li(
        picture,
        Div(A(clip(prompt, 120) or rid, href=f"/r/{rid}", cls="admin-prompt"),
            P(f"{record.get('kind', 'image').capitalize()} · made {time.strftime('%d %b %Y %H:%M UTC', time.gmtime(record.get('created_at', 0)))}"
              + "".join(f" · {badge}" for badge in badges), cls="hint"),
            P(f"Reported {row['reports']} time{'s' if row['reports'] != 1 else ''}: {reasons}", cls="admin-reports")
            if row["reports"] else None,
            Div(*buttons, cls="actions"), cls="admin-card-body"),
        id=f"result-{rid}", cls="admin-card",
    )


def _action(rid: str, action: str, label: str, danger: bool = False) -> Form:
    return Form(Button(label, type="submit", cls="button small" + (" danger" if danger else "")),
                method="post", action=f"/admin/{rid}/{action}")
