"""The LoRA adapter library: adapters a request may apply on top of its preset's model.

Each adapter is a folder `<ATELIER_HOME>/loras/<id>/` (on Modal, the weights Volume) holding
`adapter.safetensors` (a diffusers/PEFT LoRA file) and `info.json` (what `list_adapters`
shows and requests are checked against). An adapter is made for an architecture family
(`ImagePreset.family`): it fits every preset of that family and no other.

`add` copies a file or downloads one from the hub, and refuses it unless it is a readable
safetensors file of reasonable size holding LoRA weights whose shapes fit the family's model;
`add_trained` is the same door for adapters trained here (models/training/), which also keep
their trigger and how they were made. Listing and looking up read `info.json` and the safetensors
header as plain JSON, so the web side uses this module without torch; only `add`'s shape
check imports torch (it builds the family's model on the meta device: no memory, no weights).
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from models.common.errors import LoraError
from models.common.weights import atelier_home
from models.presets import IMAGE_PRESETS

MAX_LORA_BYTES = 1024**3  # the largest SDXL LoRAs (rank 128+) are under 1 GB; a full model isn't a LoRA
MAX_HEADER_BYTES = 64 * 1024**2  # safetensors' own limit is 100 MB; a LoRA's header is kilobytes
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"  # a slug: PEFT's adapter names can't hold dots
FILE_NAME = "adapter.safetensors"
INFO_NAME = "info.json"


@dataclass(frozen=True)
class LoraInfo:
    id: str
    family: str
    rank: int
    size: int  # bytes
    source: str  # where it came from: a hub id (with its file name) or a local file name
    targets: int  # how many layers it adapts
    added_at: float
    # Adapters trained here (models/training/): the words that call them up, and how they were
    # made: the recipe, the sha256 of each picture as sent, the run. Empty for added files.
    trigger: str = ""
    training: dict | None = None

    def describe(self) -> str:
        called = f", trigger '{self.trigger}'" if self.trigger else ""
        return f"{self.id} ({self.family}, rank {self.rank}, {self.size / 2**20:.1f} MB{called})"


@dataclass(frozen=True)
class Family:
    """How to read and check adapters for one architecture family."""

    pipeline: str  # the diffusers pipeline class whose LoRA loader reads (and converts) its files
    components: str  # "module:function" giving the family's models by name (models/random_weights/)


FAMILIES: dict[str, Family] = {
    "tiny": Family("StableDiffusionPipeline", "models.random_weights.tiny_image:tiny_image_components"),
    "sd2": Family("StableDiffusionPipeline", "models.random_weights.image_twins:sd_turbo_components"),
    "sdxl": Family("StableDiffusionXLPipeline", "models.random_weights.image_twins:sdxl_turbo_components"),
    "sd3": Family("StableDiffusion3Pipeline", "models.random_weights.image_twins:sd35_large_turbo_components"),
    "tiny-sd3": Family("StableDiffusion3Pipeline", "models.random_weights.tiny_image:tiny_sd3_components"),
    "flux": Family("FluxPipeline", "models.random_weights.image_twins:flux_schnell_components"),
}


def library_folder() -> Path:
    return atelier_home() / "loras"


# --- reading the library (web side too) --------------------------------------------------------

# Called before the library is read: on Modal, a throttled reload of the weights Volume (app.py).
_before_read: Callable[[], None] = lambda: None


def set_before_read(hook: Callable[[], None]) -> None:
    global _before_read
    _before_read = hook


def throttled_reload(volume, every_s: float) -> Callable[[], None]:
    """A Volume's reload at most once per `every_s`: a listing or request check then sees
    adapters that `add_lora` committed since, without a reload on every request."""
    lock, last = threading.Lock(), [0.0]

    def reload() -> None:
        with lock:
            if time.monotonic() - last[0] < every_s:
                return
            last[0] = time.monotonic()
        try:
            volume.reload()
        except Exception as e:  # e.g. a file open on the Volume: the library as it was is still good
            print(f"weights Volume reload skipped: {type(e).__name__}: {e}")

    return reload


# In hybrid mode the library is the deployed app's, on its Volume: its listing (ui/generation/remote.py).
_remote_listing: Callable[[], list[dict]] | None = None


def set_remote_listing(listing: Callable[[], list[dict]] | None) -> None:
    global _remote_listing
    _remote_listing = listing


def list_adapters(family: str | None = None) -> list[LoraInfo]:
    """Every adapter in the library (those for one family, if given), by id."""
    _before_read()
    if _remote_listing is not None:
        found = [LoraInfo(**entry) for entry in _remote_listing()]
    else:
        folder = library_folder()
        found = [_read_info(entry) for entry in sorted(folder.iterdir()) if re.match(ID_PATTERN, entry.name)] \
            if folder.is_dir() else []
    return [info for info in found if info is not None and family in (None, info.family)]


def get(adapter_id: str) -> LoraInfo:
    """The adapter with this id, or a LoraError naming the ones there are."""
    _before_read()
    if _remote_listing is not None:
        info = next((a for a in list_adapters() if a.id == adapter_id), None)
    else:
        info = _read_info(library_folder() / adapter_id) if re.match(ID_PATTERN, adapter_id) else None
    if info is None:
        known = ", ".join(a.id for a in list_adapters()) or "none yet (add one with `atelier loras add`)"
        raise LoraError(f"Unknown LoRA adapter '{adapter_id}'. Adapters in the library: {known}.")
    return info


def check_choice(adapter_id: str, preset: str) -> LoraInfo:
    """The adapter, if it fits the preset's family; else a LoraError saying which presets it fits."""
    info = get(adapter_id)
    family = IMAGE_PRESETS[preset].family
    if info.family != family:
        fitting = [p.name for p in IMAGE_PRESETS.values() if p.family == info.family]
        raise LoraError(
            f"LoRA adapter '{adapter_id}' is made for {info.family} models ({', '.join(fitting) or 'no preset here'}), "
            f"not for {preset} ({family or 'no family'})."
        )
    return info


def adapter_file(adapter_id: str) -> Path:
    return library_folder() / adapter_id / FILE_NAME


def _read_info(folder: Path) -> LoraInfo | None:
    try:
        data = json.loads((folder / INFO_NAME).read_text())
        if not (folder / FILE_NAME).is_file():
            return None
        return LoraInfo(**data)
    except (OSError, ValueError, TypeError):
        return None  # half-written or foreign folders are not adapters


# --- the safetensors header ------------------------------------------------------------------


def read_header(path: Path) -> dict[str, dict]:
    """The tensors a safetensors file declares ({name: {dtype, shape, data_offsets}}), read as
    the format defines it (8-byte little-endian header length, then JSON), checked against the
    file's size. A LoraError for anything that isn't such a file."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise LoraError(f"{path.name} is not a safetensors file (it is {size} bytes long).")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise LoraError(f"{path.name} is not a safetensors file, or it is cut short (its header doesn't fit in it).")
        try:
            header = json.loads(f.read(length))
        except (ValueError, UnicodeDecodeError):
            raise LoraError(f"{path.name} is not a safetensors file: its header is not JSON.") from None
    if not isinstance(header, dict):
        raise LoraError(f"{path.name} is not a safetensors file: its header is not a table of tensors.")
    header.pop("__metadata__", None)
    data_size = size - 8 - length
    for name, entry in header.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1] <= data_size
                and isinstance(entry.get("shape"), list)):
            raise LoraError(f"{path.name} is damaged: tensor '{name}' lies outside the file (cut short?).")
    return header


def _is_lora_key(name: str) -> bool:
    return any(part in name for part in ("lora_A", "lora_B", "lora_down", "lora_up", "lora.down", "lora.up"))


def _rank(header: dict[str, dict]) -> int:
    """The adapter's rank: the smaller side of its down (A) matrices, the largest over all layers."""
    down = [entry["shape"] for name, entry in header.items()
            if any(part in name for part in ("lora_A", "lora_down", "lora.down")) and len(entry["shape"]) >= 2]
    return max((shape[0] for shape in down), default=0)


# --- adding ----------------------------------------------------------------------------------


def slug(text: str) -> str:
    """An id made from a file or repo name: lowercase letters, digits and hyphens."""
    name = re.sub(r"\.safetensors$", "", text.rsplit("/", 1)[-1], flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63] or "lora"


def family_of(preset_or_family: str) -> str:
    if preset_or_family in FAMILIES:
        return preset_or_family
    if preset_or_family in IMAGE_PRESETS and IMAGE_PRESETS[preset_or_family].family in FAMILIES:
        return IMAGE_PRESETS[preset_or_family].family
    raise LoraError(
        f"'{preset_or_family}' is neither an image preset nor a LoRA family. "
        f"Families: {', '.join(FAMILIES)}; presets: {', '.join(IMAGE_PRESETS)}."
    )


def add(source: str, preset_or_family: str, adapter_id: str = "", weight_name: str | None = None,
        replace: bool = False) -> LoraInfo:
    """Add an adapter to the library from a local file or a hub repo ("owner/name", with
    `weight_name` when the repo holds several files). Checks everything before the adapter
    appears: a failed add leaves the library as it was."""
    family = family_of(preset_or_family)
    path = Path(source)
    from_hub = not path.exists()
    if from_hub and source.lower().endswith(".safetensors"):  # meant as a file, not a repo
        raise LoraError(f"There is no file {source} here.")
    if from_hub and not re.match(r"^[\w.-]+/[\w.-]+$", source):
        raise LoraError(f"'{source}' is neither a file here nor a Hugging Face repo id (owner/name).")
    adapter_id = adapter_id or slug((weight_name or source) if from_hub else path.name)
    if not re.match(ID_PATTERN, adapter_id):
        raise LoraError(f"'{adapter_id}' can't be an adapter id: use lowercase letters, digits and hyphens (at most 63).")
    target = library_folder() / adapter_id
    if target.exists() and not replace:
        raise LoraError(f"An adapter with id '{adapter_id}' is already in the library: choose another --id, or remove it first.")
    if from_hub:
        path = _download(source, weight_name)
    checked = check_file(path, family)
    info = LoraInfo(id=adapter_id, family=family, rank=checked["rank"], size=path.stat().st_size,
                    source=f"{source}:{weight_name}" if from_hub and weight_name else (source if from_hub else path.name),
                    targets=checked["targets"], added_at=round(time.time(), 3))
    _install(path, info)
    return info


def add_trained(path: Path, family: str, adapter_id: str, trigger: str, training: dict) -> LoraInfo:
    """Add an adapter trained here (models/training/), with its trigger and how it was made,
    after the same checks as any other; never over an adapter already in the library."""
    if (library_folder() / adapter_id).exists():
        raise LoraError(f"An adapter with id '{adapter_id}' is already in the library: the trained adapter "
                        "was not added. Train again with another adapter_id.")
    checked = check_file(path, family)
    info = LoraInfo(id=adapter_id, family=family, rank=checked["rank"], size=path.stat().st_size,
                    source=f"trained here (run {training.get('run_id', '?')})", targets=checked["targets"],
                    added_at=round(time.time(), 3), trigger=trigger, training=training)
    _install(path, info)
    return info


def _install(path: Path, info: LoraInfo) -> None:
    """The file and its info.json written beside the library and renamed in, so a reader never
    sees half an adapter (and a failure leaves none)."""
    library_folder().mkdir(parents=True, exist_ok=True)
    target = library_folder() / info.id
    with tempfile.TemporaryDirectory(dir=library_folder(), prefix=f".{info.id}-") as tmp:
        shutil.copyfile(path, Path(tmp) / FILE_NAME)
        (Path(tmp) / INFO_NAME).write_text(json.dumps(asdict(info), indent=1))
        if target.exists():
            shutil.rmtree(target)
        Path(tmp).rename(target)


def remove(adapter_id: str) -> None:
    get(adapter_id)
    shutil.rmtree(library_folder() / adapter_id)


def check_file(path: Path, family: str) -> dict:
    """Refuse a file that is too big, not safetensors, damaged, not a LoRA, or made for another
    architecture; return its rank and how many layers it adapts."""
    if path.suffix.lower() != ".safetensors":
        raise LoraError(f"{path.name} is not a .safetensors file: Atelier only loads LoRA adapters in safetensors "
                        "(pickled .bin/.pt/.ckpt files can run code when loaded).")
    size = path.stat().st_size
    if size > MAX_LORA_BYTES:
        raise LoraError(f"{path.name} is {size / 2**20:.0f} MB; a LoRA adapter may be at most {MAX_LORA_BYTES // 2**20} MB "
                        "(is it a full model rather than an adapter?).")
    header = read_header(path)
    lora_keys = [name for name in header if _is_lora_key(name)]
    if not lora_keys:
        raise LoraError(f"{path.name} holds no LoRA weights (no lora_A/lora_B or lora_down/lora_up tensors): "
                        "is it a full model or an embedding?")
    targets = check_fits(path, family)
    return {"rank": _rank(header), "targets": targets}


def check_fits(path: Path, family: str) -> int:
    """Read the file as diffusers would for the family's pipeline (converting kohya/A1111 key
    names), then check every adapted layer exists in the family's model with matching sizes.
    Returns the number of adapted layers. Imports torch: not for the web side."""
    import diffusers
    import torch

    spec = FAMILIES[family]
    loader = getattr(diffusers, spec.pipeline)
    try:
        loaded = loader.lora_state_dict(str(path))
    except Exception as e:  # diffusers says in its own words what it couldn't convert
        raise LoraError(f"{path.name} can't be read as a LoRA for {family} models: {type(e).__name__}: {e}") from None
    state = loaded[0] if isinstance(loaded, tuple) else loaded
    layers = _layers(state)
    if not layers:
        raise LoraError(f"{path.name} holds no LoRA layers diffusers can apply to {family} models.")
    module_name, function_name = spec.components.split(":")
    components = getattr(importlib.import_module(module_name), function_name)()
    models: dict[str, torch.nn.Module] = {}
    problems = []
    for (component, module_path), (down, up) in sorted(layers.items()):
        if component not in components:
            problems.append(f"it adapts a '{component}', which {family} models don't have")
            continue
        if component not in models:
            with torch.device("meta"):
                models[component] = components[component]()
        module = dict(models[component].named_modules()).get(module_path)
        if module is None:
            problems.append(f"{component}.{module_path} is not a layer of {family} models")
            continue
        weight = getattr(module, "weight", None)
        if weight is None or weight.dim() < 2:
            problems.append(f"{component}.{module_path} has no weight matrix to adapt")
            continue
        want_out, want_in = weight.shape[0], weight.shape[1]
        if down is not None and down[1] != want_in or up is not None and up[0] != want_out:
            problems.append(f"{component}.{module_path} is {want_in}→{want_out} in {family} models, "
                            f"but the adapter's is {down[1] if down else '?'}→{up[0] if up else '?'}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise LoraError(f"{path.name} doesn't fit {family} models: {problems[0]}{more}. Is it made for another family?")
    return len(layers)


def _layers(state: dict) -> dict[tuple[str, str], tuple]:
    """{(component, module path): (down shape, up shape)} from a diffusers-format LoRA state dict
    ("unet.down_blocks.0.….to_q.lora_A.weight" or the older "….lora.down.weight")."""
    layers: dict[tuple[str, str], list] = {}
    for name, tensor in state.items():
        match = re.match(r"^([^.]+)\.(.+?)\.(lora_A|lora_B|lora\.down|lora\.up)(?:\.[^.]+)?\.weight$", name)
        if not match:
            continue
        component, module_path, side = match.groups()
        module_path = module_path.removesuffix(".base_layer")
        entry = layers.setdefault((component, module_path), [None, None])
        entry[0 if side in ("lora_A", "lora.down") else 1] = tuple(tensor.shape)
    return {key: tuple(value) for key, value in layers.items()}


def _download(repo: str, weight_name: str | None) -> Path:
    """The adapter file from a hub repo: the named file, or the repo's only .safetensors file."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

    from models.common.weights import hub_offline, hub_reachable

    if hub_offline():
        raise LoraError(f"Can't download {repo}: HF_HUB_OFFLINE is set. Unset it, or add a local file instead.")
    if not hub_reachable():
        raise LoraError(f"Can't download {repo}: the Hugging Face hub is unreachable from here.")
    try:
        if weight_name is None:
            files = [f for f in HfApi().list_repo_files(repo) if f.endswith(".safetensors")]
            if len(files) != 1:
                raise LoraError(f"{repo} holds {len(files)} .safetensors files ({', '.join(files[:5]) or 'none'}): "
                                "name one with --weight-name.")
            weight_name = files[0]
        info = HfApi().get_paths_info(repo, [weight_name])
        if info and getattr(info[0], "size", 0) and info[0].size > MAX_LORA_BYTES:
            raise LoraError(f"{repo}/{weight_name} is {info[0].size / 2**20:.0f} MB; a LoRA adapter may be at most "
                            f"{MAX_LORA_BYTES // 2**20} MB.")
        return Path(hf_hub_download(repo, weight_name))
    except (GatedRepoError, RepositoryNotFoundError):
        raise LoraError(f"{repo} doesn't exist on the hub, or needs a token (HF_TOKEN) that may read it.") from None
    except EntryNotFoundError:
        raise LoraError(f"{repo} has no file '{weight_name}'.") from None
