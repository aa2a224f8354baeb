"""Who may start a generation, how often, with how much GPU time, and how large a request may be:
the checks every way into a model shares (the studio, gradio_client, REST, jobs, `atelier serve`).

    visitors.py   who a request comes from: a token's holder or an address (IPv6 by its /64)
    buckets.py    token buckets per visitor: requests and generations per minute, GPU-seconds an hour
    budget.py     per-visitor GPU budgets, charged what each generation's record says it took
    gate.py       Gate.admit → a Ticket, which every generation carries (ui.generation.generate)
    trainings.py  who may train (on Modal, trusted callers unless opened) and how many trainings
                  each visitor may have at once: Gate.trainings, for REST and the Train tab alike
    headers.py    the 431 for oversized request heads, in the app, on every route
    server.py     uvicorn for `atelier serve`, with a bound on request heads while they are parsed

Others may import what is listed in __all__, and ui.gate.server where a server is started (it
imports uvicorn). The API's middleware (ui/api/security.py) applies
the per-request checks (tokens, request rates, body and upload sizes) with these pieces.
"""

from ui.gate.buckets import RateLimiter
from ui.gate.budget import BudgetView, gpu_seconds
from ui.gate.gate import Gate, Ticket
from ui.gate.headers import HeaderLimits
from ui.gate.visitors import LOCAL, Visitor, bearer_token, cookie_value, token_matches, visitor_of

__all__ = ["LOCAL", "BudgetView", "Gate", "HeaderLimits", "RateLimiter", "Ticket", "Visitor", "bearer_token",
           "cookie_value", "gpu_seconds", "token_matches", "visitor_of"]
