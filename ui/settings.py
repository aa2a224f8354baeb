"""Every ATELIER_* setting the web side reads, in one place.

Locally they come from the shell; on Modal from an optional Secret (app.py attaches the
one named by ATELIER_API_SECRET at deploy time), so tokens never sit in the code or image.
A malformed value stops the app at start with a message naming the variable.

The result store (ui/store/):

    ATELIER_RESULTS                the store's folder (default: $ATELIER_HOME/results)
    ATELIER_RESULTS_MAX_COUNT      most results kept (default 10000)
    ATELIER_RESULTS_MAX_SIZE       most bytes of media kept (default 20G; K, M, G, T suffixes)
    ATELIER_RESULTS_DB             the index's SQLite file (default: index.db in the store's folder);
                                   a path, not a URL: no database server is supported yet
    ATELIER_RESULTS_SYNC_INTERVAL  seconds between batched syncs of the index (Modal: snapshot to the
                                   Volume + commit; default 5, 0 = after every change)

The `atelier` command (ui/cli.py):

    ATELIER_PRESET                 default for --preset
    ATELIER_BACKEND                default for --backend (local or hybrid)
    ATELIER_APP_NAME               the deployed Modal app hybrid mode drives (default atelier)

The REST API (ui/api/) and the studio's lock:

    ATELIER_API_TOKENS             comma-separated bearer tokens; unset = the API is open
    ATELIER_STUDIO_TOKEN           unset = the studio is public; set = open it once with ?studio_token=...
    ATELIER_WEBHOOK_SECRET         HMAC-SHA256 key for webhook signatures; unset = callback_url refused
    ATELIER_RATE_LIMIT             API requests per client per minute (default 120; 0 = no limit)
    ATELIER_GENERATION_RATE_LIMIT  generations (sync or jobs) per client per minute (default 10; 0 = no limit)
    ATELIER_CORS_ORIGINS           comma-separated origins allowed to call the API from a browser (default none)
    ATELIER_API_MAX_BODY           largest request body (default: a 10 MB melody, or an 8 MB image and 2 MB mask, in base64, plus 64K)
    ATELIER_CLIENT_IP_HEADER       take the client's address from this header (e.g. X-Forwarded-For) behind a proxy
    ATELIER_PUBLIC_URL             base of the media URLs in responses and webhooks (default: the request's own)
    ATELIER_SYNC_TIMEOUT           seconds a synchronous generation may take before 504 (default 600)
    ATELIER_MAX_ACTIVE_JOBS        queued + running jobs at once before 503 (default 100)
    ATELIER_JOB_TTL                seconds a finished job stays queryable (default 3600)
    ATELIER_WEBHOOK_ATTEMPTS       deliveries tried per webhook (default 5)
    ATELIER_WEBHOOK_BACKOFF        seconds before the first retry, doubling each time (default 1)
    ATELIER_WEBHOOK_ALLOW_PRIVATE  1 = webhooks may go to private/loopback addresses (default 0)

Read elsewhere, because the code that needs them runs where ui/ is not installed: the GPU
side's ATELIER_HOME, ATELIER_DEVICE and ATELIER_AUDIOCRAFT_PYTHON (models/), and the
deploy-time ATELIER_APP_NAME, ATELIER_HF_SECRET and ATELIER_API_SECRET (app.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from models.common.weights import atelier_home
from models.image.uploads import MAX_IMAGE_BYTES, MAX_MASK_BYTES
from models.music.melody import MAX_MELODY_BYTES

# CSS, JS, the theme and example prompts (beside ui/ here; app.py puts them at /root/assets on Modal).
ASSETS = Path(__file__).resolve().parent.parent / "assets"

# --- the result store -----------------------------------------------------------------------


def results_root(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get("ATELIER_RESULTS") or atelier_home() / "results")


def results_database(env: Mapping[str, str] = os.environ) -> Path | None:
    """ATELIER_RESULTS_DB, for the default store; None = index.db in the store's folder."""
    raw = env.get("ATELIER_RESULTS_DB", "").strip()
    if "://" in raw:
        raise ValueError(f"ATELIER_RESULTS_DB={raw!r}: give a file path; database servers (URLs) are not supported yet.")
    return Path(raw).expanduser() if raw else None


def results_sync_interval(env: Mapping[str, str] = os.environ) -> float:
    raw = env.get("ATELIER_RESULTS_SYNC_INTERVAL", "").strip()
    try:
        value = float(raw) if raw else 5.0
        if not 0 <= value < float("inf"):
            raise ValueError
    except ValueError:
        raise ValueError(f"ATELIER_RESULTS_SYNC_INTERVAL={raw!r} is not valid: a number of seconds, 0 or more.") from None
    return value


def results_limits(env: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """(max_results, max_bytes) from ATELIER_RESULTS_MAX_COUNT / ATELIER_RESULTS_MAX_SIZE."""
    count = int(env.get("ATELIER_RESULTS_MAX_COUNT") or 10_000)
    size = parse_size(env.get("ATELIER_RESULTS_MAX_SIZE") or "20G")
    if count < 1 or size < 1:
        raise ValueError("ATELIER_RESULTS_MAX_COUNT and ATELIER_RESULTS_MAX_SIZE must be positive.")
    return count, size


def parse_size(text: str) -> int:
    """'20G' → 21474836480. Plain numbers are bytes; K, M, G, T are powers of 1024."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"Not a size: {text!r} (use e.g. 500M or 20G).")
    number, unit = match.groups()
    return int(number) * 1024 ** "_KMGT".index(unit.upper() or "_")


# --- the `atelier` command ------------------------------------------------------------------


@dataclass(frozen=True)
class CliDefaults:
    preset: str | None
    backend: str
    app_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CliDefaults:
        return cls(
            preset=env.get("ATELIER_PRESET") or None,
            backend=env.get("ATELIER_BACKEND", "local"),
            app_name=env.get("ATELIER_APP_NAME", "atelier"),
        )


# --- the REST API -----------------------------------------------------------------------------

# The largest valid request carries the largest upload the schema allows, base64-encoded: a
# melody, or an input image with its mask.
DEFAULT_MAX_BODY = max(
    (MAX_MELODY_BYTES + 2) // 3 * 4, (MAX_IMAGE_BYTES + 2) // 3 * 4 + (MAX_MASK_BYTES + 2) // 3 * 4
) + 64 * 1024


@dataclass(frozen=True)
class ApiSettings:
    api_tokens: tuple[str, ...] = ()
    studio_token: str | None = None
    webhook_secret: str | None = None
    rate_limit: int = 120
    generation_rate_limit: int = 10
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY
    client_ip_header: str | None = None
    public_url: str | None = None
    sync_timeout_s: float = 600.0
    max_active_jobs: int = 100
    job_ttl_s: float = 3600.0
    webhook_attempts: int = 5
    webhook_backoff_s: float = 1.0  # first retry's delay; each next one doubles
    webhook_timeout_s: float = 10.0
    webhook_allow_private: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ApiSettings:
        """Settings from the environment; a malformed value stops the app with a message naming it."""

        def get(name: str, parse, default):
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return parse(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not valid: {_HELP[name]}") from None

        return cls(
            api_tokens=_split(env.get("ATELIER_API_TOKENS", "")),
            studio_token=env.get("ATELIER_STUDIO_TOKEN", "").strip() or None,
            webhook_secret=env.get("ATELIER_WEBHOOK_SECRET", "").strip() or None,
            rate_limit=get("ATELIER_RATE_LIMIT", _non_negative_int, cls.rate_limit),
            generation_rate_limit=get("ATELIER_GENERATION_RATE_LIMIT", _non_negative_int, cls.generation_rate_limit),
            cors_origins=_split(env.get("ATELIER_CORS_ORIGINS", "")),
            max_body_bytes=get("ATELIER_API_MAX_BODY", parse_size, cls.max_body_bytes),
            client_ip_header=env.get("ATELIER_CLIENT_IP_HEADER", "").strip().lower() or None,
            public_url=env.get("ATELIER_PUBLIC_URL", "").strip().rstrip("/") or None,
            sync_timeout_s=get("ATELIER_SYNC_TIMEOUT", _positive_float, cls.sync_timeout_s),
            max_active_jobs=get("ATELIER_MAX_ACTIVE_JOBS", _positive_int, cls.max_active_jobs),
            job_ttl_s=get("ATELIER_JOB_TTL", _positive_float, cls.job_ttl_s),
            webhook_attempts=get("ATELIER_WEBHOOK_ATTEMPTS", _positive_int, cls.webhook_attempts),
            webhook_backoff_s=get("ATELIER_WEBHOOK_BACKOFF", _positive_float, cls.webhook_backoff_s),
            webhook_allow_private=get("ATELIER_WEBHOOK_ALLOW_PRIVATE", _flag, False),
        )


API_ENV_VARS = (
    "ATELIER_API_TOKENS", "ATELIER_STUDIO_TOKEN", "ATELIER_WEBHOOK_SECRET", "ATELIER_RATE_LIMIT",
    "ATELIER_GENERATION_RATE_LIMIT", "ATELIER_CORS_ORIGINS", "ATELIER_API_MAX_BODY", "ATELIER_CLIENT_IP_HEADER",
    "ATELIER_PUBLIC_URL", "ATELIER_SYNC_TIMEOUT", "ATELIER_MAX_ACTIVE_JOBS", "ATELIER_JOB_TTL",
    "ATELIER_WEBHOOK_ATTEMPTS", "ATELIER_WEBHOOK_BACKOFF", "ATELIER_WEBHOOK_ALLOW_PRIVATE",
)

_HELP = {
    "ATELIER_RATE_LIMIT": "a whole number of requests per minute, 0 for no limit.",
    "ATELIER_GENERATION_RATE_LIMIT": "a whole number of generations per minute, 0 for no limit.",
    "ATELIER_API_MAX_BODY": "a size such as 64K or 1M.",
    "ATELIER_SYNC_TIMEOUT": "a number of seconds above 0.",
    "ATELIER_MAX_ACTIVE_JOBS": "a whole number above 0.",
    "ATELIER_JOB_TTL": "a number of seconds above 0.",
    "ATELIER_WEBHOOK_ATTEMPTS": "a whole number above 0.",
    "ATELIER_WEBHOOK_BACKOFF": "a number of seconds above 0.",
    "ATELIER_WEBHOOK_ALLOW_PRIVATE": "1 or 0.",
}


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError
    return value


def _flag(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError
