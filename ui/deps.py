"""What every route shares, kept on the app and handed to handlers as FastAPI dependencies.

create_app (ui/web.py) builds the backend and the result store once and keeps them on
`app.state`; a handler, defined at module level, names what it needs by type and FastAPI
fills it in for each request:

    @router.get("/api/health")
    async def health(backend: BackendDep, store: StoreDep) -> dict: ...

The share pages are FastHTML handlers, which have no dependencies: they call store_of(req).
What the API's routes share besides (settings, jobs, quotas) is ApiContext, reached the same
way through ContextDep (ui/api/context.py).
"""

# No `from __future__ import annotations`: FastAPI reads the dependencies' annotations at run time.
from typing import Annotated

from fastapi import Depends
from starlette.applications import Starlette
from starlette.requests import Request

from ui.generation import Backend
from ui.store import ResultStore


def keep(app: Starlette, *, store: ResultStore, backend: Backend | None) -> None:
    """Put the store and the backend where the dependencies below find them (backend None:
    an app of the share pages alone, which need only the store, as bench/bench_store.py builds)."""
    app.state.store, app.state.backend = store, backend


def backend_of(request: Request) -> Backend:
    return request.app.state.backend


def store_of(request: Request) -> ResultStore:
    return request.app.state.store


BackendDep = Annotated[Backend, Depends(backend_of)]
StoreDep = Annotated[ResultStore, Depends(store_of)]
