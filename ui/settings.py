"""Every ATELIER_* setting the web side reads, each declared once (pydantic-settings).

A setting is a field of one of four groups: StoreSettings (the result store, ui/store/),
CliSettings (the `atelier` command's defaults), ApiSettings (the REST API and the studio's
lock) and ModerationSettings (/admin, gallery review, the prompt blocklist). Its name is ATELIER_ plus the field's, upper-cased; its type says what a valid value
is (and, through `Valid`, says it in words); its default and description are the field's.
From that one declaration come:

- the values, read from the environment when a group is built (`from_env`); a blank value
  counts as unset;
- the message that stops the app at start on a malformed value, one sentence naming the
  variable: "ATELIER_RATE_LIMIT='lots' is not valid: a whole number per minute, 0 for no
  limit." A secret's value is never repeated, there or anywhere;
- the list in `atelier serve --help` (help_text) and the README's table of settings
  (readme_table; `python -m ui.settings` prints it, tests/test_settings.py checks the README
  has it as printed).

Locally they come from the shell; on Modal from an optional Secret (app.py attaches the one
named by ATELIER_API_SECRET at deploy time), so tokens never sit in the code or image.

Some ATELIER_* variables are read where ui/ (and pydantic-settings) is not installed: the GPU
images and the audiocraft venv (models/), and app.py at deploy time. They are listed in
ELSEWHERE, for the README's table only; tests/test_settings.py checks that list against the
names the code reads.
"""

from __future__ import annotations

import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar, Self

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.common.weights import atelier_home
from models.image.uploads import MAX_IMAGE_BYTES, MAX_MASK_BYTES
from models.music.melody import MAX_MELODY_BYTES

# CSS, JS, the theme and example prompts (beside ui/ here; app.py puts them at /root/assets on Modal).
ASSETS = Path(__file__).resolve().parent.parent / "assets"

PREFIX = "ATELIER_"


# --- what a valid value is -------------------------------------------------------------------


@dataclass(frozen=True)
class Valid:
    """A type's valid values in words: the end of the message about a malformed one."""

    words: str


@dataclass(frozen=True)
class Secret:
    """A value never shown: not in a message, not in help (its default is unset anyway)."""


def parse_size(text: str) -> int:
    """'20G' → 21474836480. Plain numbers are bytes; K, M, G, T are powers of 1024."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"Not a size: {text!r} (use e.g. 500M or 20G).")
    number, unit = match.groups()
    return int(number) * 1024 ** "_KMGT".index(unit.upper() or "_")


def _size(value: str | int) -> int:
    return value if isinstance(value, int) else parse_size(value)


def _split(value: str | tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list: "a, ,b " → ("a", "b")."""
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(part.strip() for part in parts if part.strip())


def _file_path(value: str | Path | None) -> Path | None:
    if value is not None and "://" in str(value):
        raise ValueError("a URL")
    return None if value is None else Path(value).expanduser()


SIZE = Valid("a size such as 500M or 20G")  # also how shown_default knows a size

PerMinute = Annotated[int, Field(ge=0), Valid("a whole number per minute, 0 for no limit")]
GpuSeconds = Annotated[float, Field(ge=0, allow_inf_nan=False), Valid("a number of GPU-seconds, 0 for no budget")]
Count = Annotated[int, Field(gt=0), Valid("a whole number above 0")]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False), Valid("a number of seconds above 0")]
Size = Annotated[int, BeforeValidator(_size), Field(ge=0), SIZE]
Flag = Annotated[bool, Valid("1 or 0")]
Names = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split)]  # NoDecode: a list, not JSON
HeaderName = Annotated[str, AfterValidator(str.lower)]  # headers are matched lower-cased
BaseUrl = Annotated[str, AfterValidator(lambda url: url.rstrip("/") or None)]  # joined to paths that start with /
# Never shown: not in a message, not in help, not in the settings' repr.
SecretText = Annotated[str | None, Secret(), Field(repr=False)]
SecretNames = Annotated[Names, Secret(), Field(repr=False)]


# --- the base every group shares ---------------------------------------------------------------


class Settings(BaseSettings):
    """ATELIER_<field>, read from the environment; blank = unset; malformed = one sentence."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True)
    title: ClassVar[str]  # the group's heading in help and the README

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, values: dict) -> dict:
        return {name: value.strip() if isinstance(value, str) else value for name, value in values.items()
                if not (isinstance(value, str) and not value.strip())}

    @classmethod
    def from_env(cls) -> Self:
        """The group's values from the environment; a malformed one stops here with a message naming it."""
        try:
            return cls()
        except ValidationError as e:
            raise ValueError(cls.malformed(e.errors()[0])) from None

    @classmethod
    def malformed(cls, error: dict) -> str:
        """One sentence: the variable, its value as set (unless secret), what a valid one is."""
        name = env_name(str(error["loc"][0]))
        field = cls.model_fields[str(error["loc"][0])]
        valid = next((m.words for m in field.metadata if isinstance(m, Valid)), error["msg"])
        shown = "" if _is_secret(field) else f"={os.environ.get(name, '').strip()!r}"
        return f"{name}{shown} is not valid: {valid}."


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def _is_secret(field: FieldInfo) -> bool:
    return any(isinstance(m, Secret) for m in field.metadata)


# --- the result store (ui/store/) ----------------------------------------------------------------


class StoreSettings(Settings):
    title: ClassVar[str] = "The result store"

    results: Path | None = Field(None, description="The store's folder. Unset: `$ATELIER_HOME/results` "
                                                   "(on Modal, the `atelier-results` Volume).")
    results_max_count: Count = Field(10_000, description="Most results kept; past it the oldest unpublished ones "
                                                          "go first, and none younger than a day or published while "
                                                          "older unpublished ones remain.")
    results_per_visitor: Count = Field(1000, description="Most results one visitor (an address, or an API token) "
                                                        "keeps; past it their own oldest go first.")
    results_max_size: Annotated[Size, Field(gt=0)] = Field(
        20 * 1024**3, description="Most bytes of media kept (K, M, G, T: powers of 1024); what goes first as "
                           "for the count.")
    results_db: Annotated[Path | None, BeforeValidator(_file_path),
                          Valid("a file path; database servers (URLs) are not supported yet")] = Field(
        None, description="The index's SQLite file, a path (no database server is supported yet). "
                          "Unset: `index.db` in the store's folder.")
    results_sync_interval: Annotated[float, Field(ge=0, allow_inf_nan=False), Valid("a number of seconds, 0 or more")] = (
        Field(5.0, description="Seconds between batched syncs of the index (on Modal: a snapshot to the "
                               "Volume and a commit); 0 = after every change."))

    @property
    def root(self) -> Path:
        return self.results or atelier_home() / "results"


# --- the `atelier` command -----------------------------------------------------------------------


class CliSettings(Settings):
    title: ClassVar[str] = "The `atelier` command"

    preset: str | None = Field(None, description="Default for `--preset`.")
    backend: str = Field("local", description="Default for `--backend`: `local` or `hybrid`.")
    app_name: str = Field("atelier", description="The deployed Modal app that hybrid mode drives "
                                                 "(`--app-name`); app.py names the app it deploys with it too.")


# --- the REST API and the studio's lock ------------------------------------------------------------

# The largest valid request carries the largest upload the schema allows, base64-encoded: a
# melody, or an input image with its mask.
DEFAULT_MAX_BODY = max(
    (MAX_MELODY_BYTES + 2) // 3 * 4, (MAX_IMAGE_BYTES + 2) // 3 * 4 + (MAX_MASK_BYTES + 2) // 3 * 4
) + 64 * 1024


class ApiSettings(Settings):
    title: ClassVar[str] = "The REST API and the studio's lock"

    api_tokens: SecretNames = Field((), description="Comma-separated bearer tokens for the REST API (/api/v1). "
                                                    "Unset: the API is open. A token also opens a locked studio's "
                                                    "routes, and its holder has limits of their own.")
    studio_token: SecretText = Field(None, description="Locks the studio, its page and its API (gradio_client "
                                                       "included): a visitor opens it once with "
                                                       "`/?studio_token=<token>`, a program sends it as a bearer "
                                                       "token. Unset: the studio is public, within the visitor limits.")
    webhook_secret: SecretText = Field(None, description="HMAC-SHA256 key that signs webhooks. "
                                                         "Unset: a `callback_url` is refused.")
    rate_limit: PerMinute = Field(120, description="Requests per client per minute to the API, and POSTs to the "
                                                   "studio's API (calls, uploads); 0 = no limit.")
    generation_rate_limit: PerMinute = Field(10, description="Generations per client per minute, every way in "
                                                             "together (studio, gradio_client, REST, jobs); "
                                                             "0 = no limit.")
    visitor_gpu_seconds: GpuSeconds = Field(0.0, description="GPU-seconds each visitor (an address) may use an "
                                                             "hour, refilled evenly and spent by what their "
                                                             "generations took; 0 = no budget. On Modal the "
                                                             "default is 300 (app.py).")
    token_gpu_seconds: GpuSeconds = Field(0.0, description="GPU-seconds an hour for each API token's holder; "
                                                           "0 = no budget.")
    max_active_generations: Count = Field(512, description="Generations waiting or running at once, every way in "
                                                           "together, before a 503.")
    cors_origins: Names = Field((), description="Comma-separated origins allowed to call the API from a browser.")
    api_max_body: Size = Field(DEFAULT_MAX_BODY, description=f"Largest request body, for the API and the studio's "
                                                             f"calls and uploads. The default, about "
                                                             f"{DEFAULT_MAX_BODY / 2**20:.1f}M, fits a 10 MB melody, "
                                                             "or an 8 MB image and 2 MB mask, in base64.")
    client_ip_header: HeaderName | None = Field(None, description="Take the client's address from this header "
                                                                  "(e.g. X-Forwarded-For), behind a proxy.")
    public_url: BaseUrl | None = Field(None, description="Base of the media URLs in responses and webhooks. "
                                                         "Unset: the request's own.")
    sync_timeout: Seconds = Field(600.0, description="Seconds a synchronous generation may take before a 504.")
    request_limit: Annotated[Seconds | None, Valid("a number of seconds above 0")] = Field(None, description="Seconds the platform lets one plain HTTP request run "
                                                            "(Modal: 150, set by app.py). A synchronous generation "
                                                            "still running at nine tenths of it is answered with "
                                                            "202 and its job. Unset: no such limit.")
    max_active_jobs: Count = Field(100, description="Queued and running jobs at once before a 503.")
    trainings_per_client: Count = Field(1, description="LoRA trainings one visitor (token, else address) may have "
                                                       "waiting or running at once, over REST and in the studio's "
                                                       "Train tab together, before a 429: each holds a GPU for "
                                                       "minutes.")
    open_training: Flag = Field(False, description="1: anyone may train LoRA adapters on a deployment on Modal. "
                                                   "Unset: there only API token holders may (and the studio's "
                                                   "visitors when it is locked with ATELIER_STUDIO_TOKEN).")
    job_ttl: Seconds = Field(3600.0, description="Seconds a finished job stays queryable.")
    webhook_attempts: Count = Field(5, description="Deliveries tried per webhook.")
    webhook_backoff: Seconds = Field(1.0, description="Seconds before a webhook's first retry, doubling each time.")
    webhook_allow_private: Flag = Field(False, description="1: webhooks may go to private and loopback addresses.")


# --- moderation: what a public deployment lets strangers do (ui/pages/admin.py, the store, the backends) ---


class ModerationSettings(Settings):
    title: ClassVar[str] = "Moderation"

    admin_token: SecretText = Field(None, description="Opens /admin (reported and recent public results; hide, "
                                                      "delete, approve): send it as a bearer token, or once as "
                                                      "`/admin?admin_token=<token>`. Unset: there is no /admin.")
    gallery_review: Flag = Field(False, description="1: a published result joins the gallery (and the API's list) "
                                                    "only once approved in /admin.")
    prompt_blocklist: Names = Field((), description="Comma-separated words or phrases a prompt may not contain "
                                                    "(whole words, any case or accents): such a request gets a 422 "
                                                    "naming the term.")


GROUPS: tuple[type[Settings], ...] = (StoreSettings, CliSettings, ApiSettings, ModerationSettings)
# What the API tests clear.
API_ENV_VARS = tuple(env_name(name) for group in (ApiSettings, ModerationSettings) for name in group.model_fields)


# --- read where ui/ is not installed: listed here for the README, checked by tests/test_settings.py ---


@dataclass(frozen=True)
class Elsewhere:
    name: str
    default: str
    description: str


ELSEWHERE = (
    Elsewhere("ATELIER_HOME", "`~/.cache/atelier`", "Weights (downloaded and built), the LoRA library, and by "
                                                   "default the results and the compile cache (models/common/weights.py)."),
    Elsewhere("ATELIER_DEVICE", "`cuda` if there is a GPU, else `cpu`", "The torch device models run on; the Modal "
                                                                       "GPU images set `cuda` (models/common/device.py)."),
    Elsewhere("ATELIER_GPU_SNAPSHOT", "—", "1: the container's memory snapshot also keeps GPU memory; set by the "
                                           "Modal images of classes with GPU snapshots (models/common/device.py)."),
    Elsewhere("ATELIER_COMPILE_CACHE", "`$ATELIER_HOME/compile-cache`", "Where torch.compile's inductor and Triton "
                                                                       "caches live (models/common/speed.py)."),
    Elsewhere("ATELIER_AUDIOCRAFT_PYTHON", "`.venv-audiocraft/bin/python`", "The Python with audiocraft that "
                                                                           "audiocraft presets run in "
                                                                           "(models/music/engines/)."),
    Elsewhere("ATELIER_TWIN_BUILD", "`cpu`", "Where twins' random weights are drawn, and their dtype: e.g. "
                                             "`cuda:bfloat16` (models/random_weights/twins.py)."),
    Elsewhere("ATELIER_FETCH_WEIGHTS", "`1`", "0: a model whose hub weights aren't in the cache stops, naming "
                                              "`modal run app.py::download_weights`, instead of downloading them; "
                                              "set by the Modal GPU images (models/common/weights.py)."),
    Elsewhere("ATELIER_SAFETY", "`off`; `on` on Modal", "`on`: every image passes a safety checker in the GPU "
                                                      "container, and a flagged one comes back blurred, can't be "
                                                      "published, and its record says so; read by the model side, "
                                                      "chosen at `modal deploy` (models/image/safety.py)."),
    Elsewhere("ATELIER_HF_SECRET", "—", "At `modal deploy`: the Modal Secret holding `HF_TOKEN`, for gated "
                                        "presets (app.py)."),
    Elsewhere("ATELIER_API_SECRET", "—", "At `modal deploy`: the Modal Secret holding the web container's "
                                         "settings above, tokens included (app.py)."),
)


# --- what people read: `atelier serve --help` and the README ------------------------------------------


def shown_default(field: FieldInfo) -> str:
    """A default as a person would type it: sizes in K/M/G, flags as 0/1, nothing as —."""
    value = field.default
    if value is None or value == () or _is_secret(field):
        return "—"
    if isinstance(value, bool):
        return str(int(value))
    if SIZE in field.metadata:  # in the largest unit that holds it whole, as parse_size reads it
        for power, unit in ((4, "T"), (3, "G"), (2, "M"), (1, "K")):
            if value % 1024**power == 0:
                return f"{value // 1024**power}{unit}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def help_text(groups: tuple[type[Settings], ...], width: int = 100) -> str:
    """The settings as `atelier serve --help` lists them: name, what it sets, its default."""
    lines = []
    for group in groups:
        lines.append(f"{group.title}, set in the environment:")
        for name, field in group.model_fields.items():
            head = f"  {env_name(name):<30} "
            default = shown_default(field)
            text = field.description.replace("`", "") + ("" if default == "—" else f" Default: {default}.")
            lines += textwrap.wrap(text, width, initial_indent=head, subsequent_indent=" " * len(head))
        lines.append("")
    return "\n".join(lines).rstrip()


def readme_table() -> str:
    """The README's table of every ATELIER_* setting."""
    rows = ["| variable | default | what it sets |", "|---|---|---|"]
    for group in GROUPS:
        rows.append(f"| **{group.title}** | | |")
        for name, field in group.model_fields.items():
            default = shown_default(field)
            rows.append(f"| `{env_name(name)}` | {default if default == '—' else f'`{default}`'} | {field.description} |")
    rows.append("| **Read where ui/ is not installed** (GPU images, the audiocraft venv, deploy time) | | |")
    rows += [f"| `{e.name}` | {e.default} | {e.description} |" for e in ELSEWHERE]
    return "\n".join(rows)


if __name__ == "__main__":
    print(readme_table())
