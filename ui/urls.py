"""The addresses of the site's own things, built in one place: the studio, the API, the pages
and webhooks all link to the same media and share pages, on the host the visitor used.

    /results/{id}/{name}   a result's media file, served from the result store only (ui/web.py)
    /r/{id}                a result's share page (ui/pages/)
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.requests import Request

_HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def media_path(result_id: str, name: str) -> str:
    return f"/results/{quote(result_id)}/{quote(name)}"


def permalink_path(result_id: str) -> str:
    return f"/r/{quote(result_id)}"


def site_url(req: Request) -> str:
    """The site's address as the visitor sees it: behind a proxy, from X-Forwarded-Proto/Host."""
    proto = (req.headers.get("x-forwarded-proto") or req.url.scheme).split(",")[0].strip().lower()
    host = (req.headers.get("x-forwarded-host") or req.headers.get("host") or "").split(",")[0].strip()
    if proto not in ("http", "https"):
        proto = req.url.scheme
    if not _HOST.match(host):
        host = req.url.netloc
    return f"{proto}://{host}"
