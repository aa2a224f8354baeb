"""Getting a preset's weights into a local folder, or one clear sentence saying why not.

Hub weights are looked up in the local cache first; only when they are missing do we touch
the network, after a quick check that the hub is reachable at all, so an offline laptop gets
an answer in a moment instead of half a minute of retries.

Locally, missing weights are fetched at first use. Modal's GPU containers don't fetch
(ATELIER_FETCH_WEIGHTS=0, set by app.py's images): their weights are put on the Volume
beforehand by `modal run app.py::download_weights`, and a container that finds them missing
stops at once, naming that command (`refuse_missing`).
"""

from __future__ import annotations

import importlib
import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from models.common.errors import WeightsUnavailable


def atelier_home() -> Path:
    """Where Atelier keeps built weights and, by default, results. ATELIER_HOME overrides."""
    return Path(os.environ.get("ATELIER_HOME", Path.home() / ".cache" / "atelier"))


@dataclass(frozen=True)
class HubWeights:
    repo: str
    revision: str  # a commit hash, so a preset always means the same weights
    gated: bool = False  # needs a Hugging Face token with the licence accepted
    # Only these files of the repo (glob patterns), for repos that hold many checkpoints of which
    # a preset needs one (lllyasviel/Annotators, h94/IP-Adapter, Lightricks/LTX-Video, which keeps
    # every release, ~250 GB); empty: the whole repo.
    files: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.repo}@{self.revision[:8]}" + (" (gated: needs HF_TOKEN)" if self.gated else "")


@dataclass(frozen=True)
class BuiltWeights:
    builder: str  # "module:function" taking an output folder; imported only when building
    name: str

    @property
    def folder(self) -> Path:
        return atelier_home() / "weights" / self.name

    def describe(self) -> str:
        # Records are public (share pages), so no server paths here.
        return f"{self.name}: random weights built offline"


Weights = HubWeights | BuiltWeights


# Loading is serialised process-wide: diffusers and transformers build models under
# accelerate's init_empty_weights, which patches torch.nn.Module globally for the duration,
# so two loads in two threads can leave one model with meta tensors. On Modal a container
# loads once and this costs nothing; locally, different presets load one after the other.
LOAD_LOCK = threading.Lock()


def fetching_allowed() -> bool:
    """Whether hub weights missing here may be downloaded at first use: yes, unless
    ATELIER_FETCH_WEIGHTS=0. Up to 34 GB inside a container's startup hook, under its timeout and
    perhaps in ten containers at once, is a download that belongs before the deploy."""
    return os.environ.get("ATELIER_FETCH_WEIGHTS", "1") != "0"


def refuse_missing(preset: str, weights: list[Weights]) -> None:
    """Where fetching is off, stop at once if any of a preset's hub weights are not here, naming
    the command that puts them in place (for the app named by ATELIER_APP_NAME, if it is not the
    default). Built weights (the tiny presets, the twins) are built where they run, as anywhere."""
    if fetching_allowed():
        return
    missing = [w.repo for w in weights if isinstance(w, HubWeights) and _cached(w) is None]
    if missing:
        app_name = os.environ.get("ATELIER_APP_NAME")
        command = f"modal run app.py::download_weights --presets {preset}"
        command = f"ATELIER_APP_NAME={app_name} {command}" if app_name else command
        raise WeightsUnavailable(
            f"The weights of {preset} ({', '.join(missing)}) are not on the weights Volume, and GPU containers "
            f"don't download: run `{command}` once, then try again."
        )


def ensure_weights(weights: Weights) -> Path:
    """Return a folder holding the weights, downloading or building them first if needed."""
    if isinstance(weights, BuiltWeights):
        return _build(weights)
    return _download(weights)


def _build(weights: BuiltWeights) -> Path:
    folder = weights.folder
    if (folder / ".complete").exists():
        return folder
    module_name, function_name = weights.builder.split(":")
    build = getattr(importlib.import_module(module_name), function_name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename, so a crash never leaves a half-built folder behind.
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}-") as tmp:
        build(Path(tmp))
        (Path(tmp) / ".complete").touch()
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / ".complete").exists():  # lost a race to another builder: fine
                raise
    return folder


def _download(weights: HubWeights) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if (cached := _cached(weights)) is not None:
        return cached
    if hub_offline():
        raise WeightsUnavailable(
            f"{weights.repo} is not in the local cache and HF_HUB_OFFLINE is set. "
            "Unset HF_HUB_OFFLINE to download it, or use --preset tiny to run offline."
        )
    if not hub_reachable():
        raise WeightsUnavailable(
            f"Can't download {weights.repo}: the Hugging Face hub is unreachable from here. "
            "Connect to the internet and retry, or use --preset tiny to run offline."
        )
    try:
        return Path(snapshot_download(weights.repo, revision=weights.revision, **_only(weights)))
    except (GatedRepoError, RepositoryNotFoundError) as e:
        raise WeightsUnavailable(
            f"{weights.repo} needs a Hugging Face token that has accepted its licence: "
            f"accept it on huggingface.co/{weights.repo}, then set HF_TOKEN (on Modal: a Secret). ({type(e).__name__})"
        ) from None
    except Exception as e:  # network trouble mid-download, disk full, ...
        raise WeightsUnavailable(f"Downloading {weights.repo} failed: {type(e).__name__}: {e}") from None


def _cached(weights: HubWeights) -> Path | None:
    """The weights' folder in the local Hugging Face cache, or None where they are not there."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(weights.repo, revision=weights.revision, local_files_only=True,
                                      **_only(weights)))
    except LocalEntryNotFoundError:
        return None


def _only(weights: HubWeights) -> dict:
    """Only the listed files of a big repo (an annotator's one file of many), where it lists some."""
    return {"allow_patterns": list(weights.files)} if weights.files else {}


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE forbids downloads (read at each call: tests and users flip it)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the hub answers at all, in seconds rather than after a half-minute of retries."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def quiet_loading() -> None:
    """Library progress bars and chatter belong in a terminal session, not in server logs."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # read at import time
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
