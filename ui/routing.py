"""Which HTTP methods the app takes at a path: the one rule behind every 405 and its Allow
header, whether the API's catch-all answers it (ui/api/install.py) or the middleware around
the whole app does (ui/web.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope,
                    stop: Callable[[BaseRoute], bool] = lambda route: False) -> list[str]:
    """The methods some route (or a mounted app's route) takes at this request's path, in
    METHODS order; routes from the first one `stop` picks on are not asked."""
    allowed: set[str] = set()
    for route in routes:
        if stop(route):
            break
        if isinstance(route, Mount):
            match, child = route.matches(scope)
            inner = getattr(getattr(route.app, "router", None), "routes", None)
            if match is Match.FULL and inner is not None:
                allowed.update(allowed_methods(inner, {**scope, **child}))
            continue
        allowed.update(m for m in METHODS if route.matches({**scope, "method": m})[0] is Match.FULL)
    return [m for m in METHODS if m in allowed]


def not_allowed(method: str, allowed: list[str]) -> str:
    """The 405's message; `allowed` goes in its Allow header, joined the same way."""
    return f"{method} is not accepted here; use {', '.join(allowed)}."
