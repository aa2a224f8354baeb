"""Getting a preset's weights into a local folder, or one clear sentence saying why not.

Hub weights are looked up in the local cache first; only when they are missing do we touch
the network, after a quick check that the hub is reachable at all, so an offline laptop gets
an answer in a moment instead of half a minute of retries.
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
    # Only these files of the repo (glob patterns, as snapshot_download's allow_patterns): for repos
    # that hold far more than a preset loads (Lightricks/LTX-Video keeps every release, ~250 GB).
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
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    only = {"allow_patterns": list(weights.files)} if weights.files else {}
    try:
        return Path(snapshot_download(weights.repo, revision=weights.revision, local_files_only=True, **only))
    except LocalEntryNotFoundError:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise WeightsUnavailable(
            f"{weights.repo} is not in the local cache and HF_HUB_OFFLINE is set. "
            "Unset HF_HUB_OFFLINE to download it, or use --preset tiny to run offline."
        )
    if not _hub_reachable():
        raise WeightsUnavailable(
            f"Can't download {weights.repo}: the Hugging Face hub is unreachable from here. "
            "Connect to the internet and retry, or use --preset tiny to run offline."
        )
    try:
        return Path(snapshot_download(weights.repo, revision=weights.revision, **only))
    except (GatedRepoError, RepositoryNotFoundError) as e:
        raise WeightsUnavailable(
            f"{weights.repo} needs a Hugging Face token that has accepted its licence: "
            f"accept it on huggingface.co/{weights.repo}, then set HF_TOKEN (on Modal: a Secret). ({type(e).__name__})"
        ) from None
    except Exception as e:  # network trouble mid-download, disk full, ...
        raise WeightsUnavailable(f"Downloading {weights.repo} failed: {type(e).__name__}: {e}") from None


def _hub_reachable(timeout_s: float = 3.0) -> bool:
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
