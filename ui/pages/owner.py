"""The owner's actions on a share page: publish, unpublish, delete.

The owner's browser keeps the result's owner token (localStorage, set when it was shared
from the studio) and pages.js sends it as X-Owner-Token. Answers are JSON in the one error
shape, since a script reads them.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from ui.errors import Forbidden, NotAllowed, NotFound, error_response
from ui.pages.layout import json_ok
from ui.store import ResultStore, moderation

OWNER_HEADER = "X-Owner-Token"


async def owner_action(store: ResultStore, req: Request, result_id: str, action: str) -> Response:
    """Publish, unpublish or delete, for whoever holds the owner token (pages.js sends it)."""
    token = req.headers.get(OWNER_HEADER)  # never logged, never echoed
    try:
        if action == "delete":
            await asyncio.to_thread(store.delete, result_id, token)
            return json_ok({"id": result_id, "deleted": True})
        record = await asyncio.to_thread(store.set_published, result_id, token, action == "publish")
        waiting = record["published"] and record.get("moderation") == moderation.PENDING and store.moderation.review
        return json_ok({"id": result_id, "published": record["published"], "waiting_for_review": waiting})
    except NotAllowed as e:  # flagged by the safety checker, or hidden by the site's owner: it says which
        return error_response(403, "not_allowed", str(e))
    except NotFound:
        return error_response(404, "not_found", "No result with that id: it may have been deleted already.")
    except Forbidden:
        return error_response(
            403,
            "forbidden",
            "Only the person who made this result can change it, from the browser they made it in.",
        )
