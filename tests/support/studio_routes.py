"""Every way into the studio's events, found on the mounted app rather than listed by hand, and
a raw HTTP caller for each (no gradio_client: it would upload, retry and reshape what is sent).
No tests here; tests/gate/ uses these.

Gradio 6.31's POST routes under /gradio_api/ that run an event (its `fns`):

    /queue/join                    {"fn_index", "data", "session_hash"}: the browser's way
    /call/{api_name}, /call/v2/... then GET /call/{api_name}/{event_id}: gradio_client's and curl's
    /run/{api_name}, /api/{api_name} one request, the event run outside the queue

Every other POST route there is listed in NO_EVENT with what it does instead; a route that is in
neither (a new Gradio, a new feature) fails the tests until someone says which it is.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import httpx
from starlette.routing import Mount

EVENT_ROUTES = ("/gradio_api/queue/join", "/gradio_api/call/{api_name}", "/gradio_api/call/v2/{api_name}",
                "/gradio_api/run/{api_name}", "/gradio_api/api/{api_name}")
NO_EVENT = {
    "/login": "Gradio's own login form (the studio sets no Gradio auth)",
    "/gradio_api/upload": "stores a file for a later call: under the body cap, refused before written",
    "/gradio_api/stream/{event_id}": "feeds a streaming input of an event already running",
    "/gradio_api/stream/{event_id}/close": "ends that stream",
    "/gradio_api/reset": "forgets a session's state",
    "/gradio_api/cancel": "cancels an event",
    "/gradio_api/component_server": "a component's own server function (none here starts a model)",
    "/gradio_api/process_recording": "trims a recorded video",
    "/gradio_api/vibe-edit": "Gradio's vibe mode, off (403) unless launched with it",
    "/gradio_api/undo-vibe-edit": "the same",
    "/gradio_api/vibe-code": "the same",
    "/gradio_api/vibe-starter-queries": "the same",
}


def route_paths(routes, method: str = "POST") -> set[str]:
    """Every path that takes `method`, through mounts and FastAPI's included routers (trailing
    slashes folded: Gradio registers most routes twice)."""
    found = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= {route.path + p for p in route_paths(route.routes, method)}
        elif hasattr(route, "original_router"):  # FastAPI 0.16x includes routers lazily
            prefix = route.include_context.prefix
            found |= {prefix + p for p in route_paths(route.original_router.routes, method)}
        elif method in (getattr(route, "methods", None) or ()):
            found.add(route.path.rstrip("/") or "/")
    return found


def studio_app(app):
    """The Gradio app mounted at "/"."""
    return next(route.app for route in app.router.routes if isinstance(route, Mount) and route.path == "")


@dataclass(frozen=True)
class Credentials:
    name: str
    headers: dict
    cookies: dict


def event_data(fn) -> list:
    """A call's data for one of the studio's events: every input left empty (the preset's defaults),
    a prompt where the event has one."""
    return ["a fox in the snow" if getattr(block, "elem_id", "") in ("image-prompt", "music-prompt", "video-prompt") else None
            for block in fn.inputs]


def call_event(url: str, route: str, fn, credentials: Credentials, timeout: float = 60) -> str:
    """Run one event by one route; "done", or what refused it ("http 401", "error: <message>")."""
    headers, cookies = credentials.headers, credentials.cookies
    with httpx.Client(base_url=url, headers=headers, cookies=cookies, timeout=timeout) as client:
        if route == "/gradio_api/queue/join":
            return _joined(client, fn)
        path = route.replace("{api_name}", fn.api_name)
        body = {"prompt": "a fox in the snow"} if "/v2/" in path else {"data": event_data(fn)}
        answer = client.post(path, json=body)
        if answer.status_code != 200 and not path.startswith(("/gradio_api/run", "/gradio_api/api")):
            return f"http {answer.status_code}"
        if path.startswith(("/gradio_api/run", "/gradio_api/api")):  # one request: the answer is the outcome
            return "done" if answer.status_code == 200 else _refusal(answer.status_code, answer.text)
        stream = client.get(f"/gradio_api/call/{fn.api_name}/{answer.json()['event_id']}").text
        if "event: complete" in stream:
            return "done"
        return "error: " + _message(stream.split("event: error", 1)[-1].split("data:", 1)[-1])


def _joined(client: httpx.Client, fn) -> str:
    session = secrets.token_hex(6)
    answer = client.post("/gradio_api/queue/join", json={"fn_index": fn._id, "data": event_data(fn),
                                                          "session_hash": session, "event_data": None,
                                                          "trigger_id": None})
    if answer.status_code != 200:
        return f"http {answer.status_code}"
    event_id = answer.json()["event_id"]
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                output = message.get("output") or {}
                return "done" if message.get("success") else "error: " + str(output.get("error"))
    return "error: the stream ended"


def _refusal(status: int, text: str) -> str:
    return f"http {status}" if status in (401, 413, 429) else "error: " + _message(text)


def _message(text: str) -> str:
    try:
        return str(json.loads(text.strip()).get("error"))
    except (ValueError, AttributeError):
        return text.strip()[:200]
