"""What every API route shares: the backend, the store, the settings, the jobs, the gate, and
the two rules every route applies the same way (the base of the URLs it answers with, and
admission through the gate, whose tickets every generation carries). install_api builds one
per app and keeps it on the app; a route names it as a parameter, `ctx: ContextDep`, and
FastAPI hands it over (ui/deps.py does the same for the backend and the store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from ui.api.schemas import present
from ui.errors import ApiError
from ui.gate import Gate, Ticket, Visitor
from ui.generation import Backend, JobManager, WebhookSender
from ui.settings import ApiSettings
from ui.store import ResultStore

WEBHOOK_TIMEOUT_S = 10.0  # one delivery's wait for an answer


@dataclass
class ApiContext:
    backend: Backend
    store: ResultStore
    settings: ApiSettings
    jobs: JobManager
    gate: Gate  # the studio's too: one set of limits for every way in

    @classmethod
    def build(cls, backend: Backend, store: ResultStore, settings: ApiSettings, gate: Gate) -> ApiContext:
        webhooks = (
            WebhookSender(
                settings.webhook_secret,
                attempts=settings.webhook_attempts,
                backoff_s=settings.webhook_backoff,
                timeout_s=WEBHOOK_TIMEOUT_S,
                allow_private=settings.webhook_allow_private,
            )
            if settings.webhook_secret
            else None
        )
        jobs = JobManager(backend, store, present, webhooks, max_active=settings.max_active_jobs, ttl_s=settings.job_ttl)
        return cls(backend, store, settings, jobs, gate)

    def keep(self, app: FastAPI) -> None:
        """Where context_of finds it; the jobs also as app.state.jobs, for whoever awaits one."""
        app.state.api, app.state.jobs = self, self.jobs

    def base_url(self, request: Request) -> str:
        """Where the media and pages in an answer live: ATELIER_PUBLIC_URL, else the request's own."""
        return self.settings.public_url or str(request.base_url).rstrip("/")

    def check_callback(self, callback_url: str | None) -> None:
        """A callback URL needs a secret to sign its webhooks with."""
        if callback_url and not self.settings.webhook_secret:
            raise ApiError(422, "webhooks_not_configured",
                           "This server has no webhook secret (ATELIER_WEBHOOK_SECRET), so it can't sign "
                           "callbacks: leave callback_url out and poll the job instead.")

    def visitor(self, request: Request) -> Visitor:
        return self.gate.visitor(request.headers, request.client.host if request.client else None)

    def take_generation(self, request: Request) -> Ticket:
        """Leave for one generation through the gate, or ApiError: 429 (rate, GPU budget) or 503 (busy)."""
        return self.gate.admit(self.visitor(request))


def context_of(request: Request) -> ApiContext:
    return request.app.state.api


ContextDep = Annotated[ApiContext, Depends(context_of)]
