"""GET /api/budget: the caller's own GPU budget (ui/gate/budget.py), what is left and when it
refills. Open like /api/health (it tells a caller about themselves only), so the studio's
masthead can show it to a visitor who holds no API token."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
from fastapi import APIRouter, Request

from ui.api.context import ContextDep
from ui.gate import BudgetView

router = APIRouter(prefix="/api", tags=["budget"])


@router.get("/budget")
async def my_budget(request: Request, ctx: ContextDep) -> BudgetView:
    """Your GPU-seconds an hour, what is left now, and the seconds until you may generate again
    (0: now). Counted per API token for a token's holder, else per address."""
    return ctx.gate.budget.view(ctx.visitor(request))
