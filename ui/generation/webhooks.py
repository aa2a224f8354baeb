"""Webhooks: tell a caller's server that its job finished, signed so it can trust the news.

Each delivery is a POST of JSON with these headers:

    X-Atelier-Event:      job.succeeded | job.failed
    X-Atelier-Delivery:   an id, the same on every retry of one delivery
    X-Atelier-Timestamp:  unix seconds when this attempt was signed
    X-Atelier-Signature:  sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed by ATELIER_WEBHOOK_SECRET>

A receiver recomputes the HMAC over the raw body (see `verify`) and rejects stale
timestamps, which stops replays. Failed attempts — no connection, a timeout, 408, 425, 429
or 5xx — are retried with exponential backoff (1 s, 2 s, 4 s, ... by default); any other
answer is final. Redirects are not followed. Each attempt, the address check included, ends
at its deadline (timeout_s) however slowly a receiver answers, so a delivery's longest time
is known (`longest_delivery_s`): on Modal the web container stays up that long after a job.

Unless ATELIER_WEBHOOK_ALLOW_PRIVATE=1, a webhook is never sent to a loopback, private,
link-local or otherwise non-public address, nor to one that carries such an IPv4 address
inside an IPv6 one (NAT64, 6to4, Teredo, IPv4-mapped and -compatible), so a callback URL
can't be used to reach the server's own network: the host is resolved and every address
checked before each attempt, and the connection goes to an address that was checked, never
to a second lookup's answer (ui/generation/egress.py). Such deliveries go direct, never
through a proxy named in the environment (whose address is what would be checked).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx

from ui.generation.egress import PublicOnlyTransport, Refused

log = logging.getLogger("atelier.webhooks")

SIGNATURE_HEADER = "X-Atelier-Signature"
TIMESTAMP_HEADER = "X-Atelier-Timestamp"
EVENT_HEADER = "X-Atelier-Event"
DELIVERY_HEADER = "X-Atelier-Delivery"
_RETRY_STATUSES = {408, 425, 429}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, tolerance_s: float = 300, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass
class Delivery:
    """Where one webhook stands; shown on its job (without the URL, which may hold a secret)."""

    state: Literal["pending", "delivered", "failed"] = "pending"
    attempts: int = 0
    last_error: str | None = None


class WebhookSender:
    def __init__(
        self,
        secret: str,
        attempts: int = 5,
        backoff_s: float = 1.0,
        timeout_s: float = 10.0,
        allow_private: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.secret = secret
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self._sleep = sleep

    def longest_delivery_s(self) -> float:
        """The most time one delivery can take: every attempt to its deadline, and every wait between."""
        return self.attempts * self.timeout_s + sum(self.backoff_s * 2**i for i in range(self.attempts - 1))

    async def deliver(self, url: str, event: str, payload: dict, delivery: Delivery) -> None:
        """POST `payload` to `url` until it is accepted or the attempts run out; updates `delivery`."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery_id = secrets.token_urlsafe(12)
        host = urlsplit(url).hostname or "?"
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            delivery.state, delivery.last_error = "failed", "the callback URL must be an http(s) URL with a host"
            return
        guarded = {} if self.allow_private else {"transport": PublicOnlyTransport(), "trust_env": False}
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False, **guarded) as client:
            for attempt in range(1, self.attempts + 1):
                delivery.attempts = attempt
                try:
                    async with asyncio.timeout(self.timeout_s):  # httpx's timeout is per phase and per read
                        timestamp = str(int(time.time()))
                        response = await client.post(url, content=body, headers={
                            "Content-Type": "application/json",
                            "User-Agent": "Atelier-Webhook/1",
                            EVENT_HEADER: event,
                            DELIVERY_HEADER: delivery_id,
                            TIMESTAMP_HEADER: timestamp,
                            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
                        })
                except TimeoutError:
                    delivery.last_error = f"the receiver took longer than {self.timeout_s:g} s"
                except Refused as e:
                    delivery.state, delivery.last_error = "failed", str(e)
                    log.warning("webhook to %s refused: %s", host, e)
                    return
                except socket.gaierror:  # perhaps a passing DNS failure: worth another try
                    delivery.last_error = f"could not resolve {host!r}"
                except httpx.HTTPError as e:
                    delivery.last_error = f"{type(e).__name__} calling the receiver"
                else:
                    if 200 <= response.status_code < 300:
                        delivery.state, delivery.last_error = "delivered", None
                        return
                    delivery.last_error = f"the receiver answered {response.status_code}"
                    if response.status_code < 500 and response.status_code not in _RETRY_STATUSES:
                        break  # the receiver said no; asking again won't change its mind
                if attempt < self.attempts:
                    await self._sleep(self.backoff_s * 2 ** (attempt - 1))
        delivery.state = "failed"
        log.warning("webhook to %s failed after %d attempt(s): %s", host, delivery.attempts, delivery.last_error)
