"""The guide library: the ControlNets, IP-Adapters and annotator models each image family can use.

A request guides an image with *controls* (a picture of edges, depth, a pose... that the layout
must follow: a ControlNet) and *references* (pictures used as a prompt: an IP-Adapter). Which of
these exist depends on the preset's architecture, so they are listed here per guide set: a
family's (`ImagePreset.guide_set`, the family unless a twin needs its own), with pinned weights
that `app.py::download_weights` puts on the weights Volume next to the preset's own.

Each mode has an annotator that makes its control picture from any picture (models/image/
annotators.py): OpenCV's Canny edges, a depth model (Depth Anything V2 small), a pose model
(ViTPose, drawn as OpenPose-style sticks), HED soft edges, and what follows from them (scribbles
from soft edges, normals from depth, a blurred or plain copy for blur and tile). A request may
also send the control picture ready-made (`preprocess: false`), which is the only way for lines
and segmentation: no annotator for them is kept here.

Revisions: commits read off public Hugging Face cache paths (`models--<org>--<name>/snapshots/
<commit>`) in public projects, not checked against the hub from here (no network), like
models/presets.py's. Where no public record of a commit was found the revision is "main", said
so beside it: those are unpinned until someone with the hub pins them.

Web side too: no torch, no huggingface_hub here (the web image has neither).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from models.common.errors import RequestError
from models.common.weights import BuiltWeights, HubWeights, Weights
from models.presets import IMAGE_PRESETS

# Every mode a control may have, in the order the studio lists them.
MODES = ("canny", "depth", "pose", "scribble", "softedge", "lines", "normal", "segmentation", "tile", "blur")
Mode = Literal["canny", "depth", "pose", "scribble", "softedge", "lines", "normal", "segmentation", "tile", "blur"]
MODE_SUMMARIES = {
    "canny": "Canny edges (OpenCV)",
    "depth": "a depth map (Depth Anything V2)",
    "pose": "people's poses as OpenPose sticks (ViTPose)",
    "scribble": "a scribble: bold lines on black",
    "softedge": "soft edges (HED)",
    "lines": "a line drawing, white on black (send it ready-made)",
    "normal": "a normal map (from the depth map)",
    "segmentation": "an ADE20K-coloured segmentation map (send it ready-made)",
    "tile": "the picture itself, for detail at a larger size",
    "blur": "a blurred picture, for detail at a larger size",
}
# sd-webui-controlnet's names for modes, as the model files named in its PNG text have them.
A1111_NAMES = {"openpose": "pose", "lineart": "lines", "seg": "segmentation", "normalbae": "normal", "hed": "softedge"}
# Which annotator model each mode's picture comes from (none: OpenCV or plain image operations).
ANNOTATOR_OF = {"depth": "depth", "normal": "depth", "pose": "pose", "softedge": "softedge", "scribble": "softedge"}
# Modes whose picture can't be made here from any picture: send it ready-made.
READY_MADE_ONLY = ("lines", "segmentation")

ControlLoader = Literal["sd", "union", "sd3", "flux"]  # the diffusers class: ControlNetModel, ControlNetUnionModel, ...


@dataclass(frozen=True)
class ControlNet:
    """One ControlNet checkpoint: the modes it was trained for (a union model: each mode's index)."""

    weights: Weights
    loader: ControlLoader
    modes: dict[str, int | None]  # mode → the union model's control-mode index; None for a one-mode model
    subfolder: str = ""  # where in the weights' folder the model is
    size: str = ""  # its architecture in PARAMS ("" for the tiny ones: kilobytes)


@dataclass(frozen=True)
class IpAdapter:
    """An IP-Adapter: its weights file, and the image encoder it was trained with."""

    weights: Weights
    weight_name: str
    subfolder: str = ""
    # The image encoder: a folder inside `weights` (h94's), or weights of its own (SD3.5's SigLIP, FLUX's CLIP-L).
    encoder_folder: str = "image_encoder"
    encoder: Weights | None = None
    # How many pictures one request may send. Per-picture scales need the UNet IP-Adapter's masks; the
    # SD3 and FLUX adapters take one picture at one scale.
    max_references: int = 4
    size: str = ""  # the adapter's own layers in PARAMS, and its image encoder's ("" for the tiny ones)
    encoder_size: str = ""


@dataclass(frozen=True)
class GuideSet:
    controls: tuple[ControlNet, ...] = ()
    references: IpAdapter | None = None
    no_references_because: str = ""  # the sentence's end when `references` is None
    annotators: dict[str, Weights] = field(default_factory=dict)  # "depth", "pose", "softedge" → weights
    upscale_mode: str | None = None  # the control an upscale tiles with ("tile", "blur"); None: img2img alone
    # Whether controls combine with an input image or mask: diffusers 0.42 has no SD3 ControlNet
    # pipeline for image-to-image, and its SD3 inpainting one is for inpainting ControlNets only.
    controls_with_inputs: bool = True

    @property
    def modes(self) -> list[str]:
        return [mode for mode in MODES if any(mode in net.modes for net in self.controls)]

    def net_for(self, mode: str) -> ControlNet:
        return next(net for net in self.controls if mode in net.modes)


# --- the annotators' weights ------------------------------------------------------------------

_ANNOTATORS = {
    # Depth Anything V2 Small in transformers' format (24.8 M parameters, Apache-2.0).
    "depth": HubWeights("depth-anything/Depth-Anything-V2-Small-hf", "5426e4f0f36572d16453bbda7a8389317b1bef99"),
    # ViTPose-B trained on COCO's 17 keypoints, in transformers' format (Apache-2.0).
    "pose": HubWeights("usyd-community/vitpose-base-simple", "a93ac0c67e0b7e2c55287d21d4c460c8f3c54d45"),
    # ControlNet 1.1's HED (its Apache-2.0 reimplementation), one file of the annotators repo.
    "softedge": HubWeights("lllyasviel/Annotators", "982e7edaec38759d914a963c48c4726685de7d96",
                           files=("ControlNetHED.pth",)),
}


def _built(name: str, function: str) -> BuiltWeights:
    return BuiltWeights(f"models.random_weights.tiny_guides:{function}", name)


_TINY_ANNOTATORS = {
    "depth": _built("tiny-depth", "build_tiny_depth"),
    "pose": _built("tiny-pose", "build_tiny_pose"),
    "softedge": _built("tiny-hed", "build_tiny_hed"),
}
# The real annotators' architectures and sizes with random weights: for the sd-turbo twin's benchmark.
_TWIN_ANNOTATORS = {
    "depth": _built("depth-anything-v2-small-twin", "build_depth_twin"),
    "pose": _built("vitpose-base-twin", "build_pose_twin"),
    "softedge": _built("hed-twin", "build_hed_twin"),
}

# --- their sizes: what the guides a model holds at once cost its GPU (ui/doctor.py adds them up) ----

# Parameters of each guide model's architecture, from the published configs' sizes: models/random_weights/
# guide_twins.py builds each on the meta device, and tests/models/test_twins.py checks these within 1%.
PARAMS: dict[str, int] = {
    "controlnet-sd21": 364_228_240,
    "controlnet-union-sdxl-promax": 1_257_287_280,
    "controlnet-sd3.5-large": 4_186_977_408,
    "controlnet-union-flux": 3_291_726_848,
    "ip-adapter-sdxl-vit-h": 349_188_096,  # the image projection and 70 key/value pairs
    "ip-adapter-sd3.5-large": 797_925_888,  # the time-aware resampler and 38 joint-block processors
    "ip-adapter-flux": 490_874_880,
    "clip-vit-h-encoder": 632_076_800,
    "siglip-so400m-encoder": 428_225_600,
    "clip-vit-l-encoder": 303_966_208,
    "depth-anything-v2-small": 24_785_089,
    "vitpose-base": 85_912_337,
    "hed": 14_716_168,
}
_ANNOTATOR_SIZES = {"depth": "depth-anything-v2-small", "pose": "vitpose-base", "softedge": "hed"}

# --- the guide sets ---------------------------------------------------------------------------

# thibaud's ControlNets for Stable Diffusion 2.1, one per mode, in diffusers' format. No public
# record of their commits was found: unpinned ("main").
_SD21_NETS = tuple(
    ControlNet(HubWeights(f"thibaud/controlnet-sd21-{name}-diffusers", "main"), "sd", {mode: None},
               size="controlnet-sd21")
    for mode, name in (("canny", "canny"), ("depth", "depth"), ("pose", "openpose"), ("softedge", "hed"),
                       ("scribble", "scribble"), ("lines", "lineart"), ("normal", "normalbae"),
                       ("segmentation", "ade20k"))
)
# One SD-2.1-shaped ControlNet for every one of the twin's modes (random weights, real size).
_SD21_TWIN_NET = ControlNet(_built("controlnet-sd21-twin", "build_sd21_controlnet_twin"), "sd",
                            {mode: None for mode in ("canny", "depth", "pose", "scribble", "softedge", "lines",
                                                     "normal", "segmentation")}, size="controlnet-sd21")

GUIDE_SETS: dict[str, GuideSet] = {
    "sd2": GuideSet(
        controls=_SD21_NETS,
        no_references_because="no IP-Adapter is published for Stable Diffusion 2.1",
        annotators=_ANNOTATORS,
    ),
    "sd2-twin": GuideSet(
        controls=(_SD21_TWIN_NET,),
        no_references_because="no IP-Adapter is published for Stable Diffusion 2.1",
        annotators=_TWIN_ANNOTATORS,
    ),
    "sdxl": GuideSet(
        # xinsir's union ControlNet (ProMax): every mode in one model, chosen by index. Commit from a
        # public project's cache path; not checked against the hub.
        controls=(ControlNet(
            HubWeights("xinsir/controlnet-union-sdxl-1.0", "60ccbb0afea4fb991abea616e2b2ee455869b84b",
                       files=("promax/*",)),
            "union",
            {"pose": 0, "depth": 1, "softedge": 2, "scribble": 2, "canny": 3, "lines": 3, "normal": 4,
             "segmentation": 5, "tile": 6},
            subfolder="promax", size="controlnet-union-sdxl-promax",
        ),),
        # h94's SDXL adapter for the ViT-H image encoder (the smaller of its two encoders). Commit from
        # several public projects' cache paths; not checked against the hub.
        references=IpAdapter(
            HubWeights("h94/IP-Adapter", "018e402774aeeddd60609b4ecdb7e298259dc729",
                       files=("sdxl_models/ip-adapter_sdxl_vit-h.safetensors", "models/image_encoder/*")),
            weight_name="ip-adapter_sdxl_vit-h.safetensors", subfolder="sdxl_models",
            encoder_folder="models/image_encoder", size="ip-adapter-sdxl-vit-h", encoder_size="clip-vit-h-encoder",
        ),
        annotators=_ANNOTATORS,
        upscale_mode="tile",
    ),
    "sd3": GuideSet(
        # Stability's three ControlNets for SD3.5 Large (gated, like the model). No public record of
        # their commits was found: unpinned ("main").
        controls=tuple(
            ControlNet(HubWeights(f"stabilityai/stable-diffusion-3.5-large-controlnet-{mode}", "main", gated=True),
                       "sd3", {mode: None}, size="controlnet-sd3.5-large")
            for mode in ("canny", "depth", "blur")
        ),
        # InstantX's IP-Adapter for SD3.5 Large (commit unpinned: none found) with SigLIP-so400m as its
        # image encoder (commit from many public projects' cache paths).
        references=IpAdapter(
            HubWeights("InstantX/SD3.5-Large-IP-Adapter", "main", files=("ip-adapter.bin",)),
            weight_name="ip-adapter.bin", encoder_folder="",
            encoder=HubWeights("google/siglip-so400m-patch14-384", "9fdffc58afc957d1a03a25b10dba0329ab15c2a3"),
            max_references=1, size="ip-adapter-sd3.5-large", encoder_size="siglip-so400m-encoder",
        ),
        annotators=_ANNOTATORS,
        controls_with_inputs=False,  # and so an upscale (image-to-image) goes without its blur control
    ),
    "flux": GuideSet(
        # InstantX's union ControlNet for FLUX.1 (trained on dev; works with schnell's transformer,
        # which has the same shapes). No public record of its commit: unpinned ("main").
        controls=(ControlNet(
            HubWeights("InstantX/FLUX.1-dev-Controlnet-Union", "main"), "flux",
            {"canny": 0, "tile": 1, "depth": 2, "blur": 3, "pose": 4}, size="controlnet-union-flux",
        ),),
        # XLabs' FLUX IP-Adapter (commit unpinned: none found) with CLIP ViT-L/14 as its image encoder
        # (commit from many public projects' cache paths).
        references=IpAdapter(
            HubWeights("XLabs-AI/flux-ip-adapter", "main", files=("ip_adapter.safetensors",)),
            weight_name="ip_adapter.safetensors", encoder_folder="",
            encoder=HubWeights("openai/clip-vit-large-patch14", "32bd64288804d66eefd0ccbe215aa642df71cc41"),
            max_references=1, size="ip-adapter-flux", encoder_size="clip-vit-l-encoder",
        ),
        annotators=_ANNOTATORS,
        upscale_mode="tile",
    ),
    # The tiny presets mirror a real family each, offline: `tiny` sd2's modes (plus a tile mode and an
    # IP-Adapter, which sd2 lacks, so those paths are tested), `tiny-sd3` sd3's.
    "tiny": GuideSet(
        controls=(ControlNet(_built("tiny-controlnet", "build_tiny_controlnet"), "sd",
                             {mode: None for mode in (*_SD21_TWIN_NET.modes, "tile")}),),
        references=IpAdapter(_built("tiny-ip-adapter", "build_tiny_ip_adapter"), weight_name="ip-adapter.safetensors"),
        annotators=_TINY_ANNOTATORS,
        upscale_mode="tile",  # sd2 has no tile ControlNet: tiny has, so the tile-controlled upscale runs offline
    ),
    "tiny-sd3": GuideSet(
        controls=(ControlNet(_built("tiny-sd3-controlnet", "build_tiny_sd3_controlnet"), "sd3",
                             {"canny": None, "depth": None, "blur": None}),),
        references=IpAdapter(_built("tiny-sd3-ip-adapter", "build_tiny_sd3_ip_adapter"),
                             weight_name="ip-adapter.safetensors", max_references=1),
        annotators=_TINY_ANNOTATORS,
        controls_with_inputs=False,
    ),
}


def guide_set(preset: str) -> GuideSet:
    return GUIDE_SETS.get(IMAGE_PRESETS[preset].guide_set, GuideSet())


def mode_named(model: str) -> str | None:
    """The mode a PNG recipe's ControlNet unit names: ours ("canny"), or the one in an A1111 model file's
    name ("control_v11p_sd15_openpose [cab727d4]": pose); None if it names none."""
    for word in re.split(r"[^a-z0-9]+", model.lower()):
        if word in MODES or word in A1111_NAMES:
            return A1111_NAMES.get(word, word)
    return None


# --- checks a request meets (RequestError: the web side answers 422) ---------------------------


def check_mode(mode: str, preset: str, preprocess: bool) -> None:
    modes = guide_set(preset).modes
    if mode not in modes:
        have = f"its controls are {', '.join(modes)}" if modes else "it takes no controls"
        raise RequestError(f"{preset} has no {mode} control: {have}.")
    if preprocess and mode in READY_MADE_ONLY:
        raise RequestError(f"There is no {mode} annotator here: send the {mode} picture ready-made "
                           "(preprocess: false).")


def check_control_count(count: int, preset: str) -> None:
    most = IMAGE_PRESETS[preset].max_controls
    if count > most:
        raise RequestError(f"{preset} takes at most {most} control{'s' if most > 1 else ''} at a time (got {count}): "
                           "its GPU holds no more ControlNets beside a full batch.")


def check_references(count: int, preset: str) -> None:
    if not count:
        return
    adapter = guide_set(preset).references
    if adapter is None:
        why = guide_set(preset).no_references_because or "it has no IP-Adapter"
        raise RequestError(f"{preset} takes no reference images: {why}.")
    if count > adapter.max_references:
        raise RequestError(f"{preset} takes at most {adapter.max_references} reference image"
                           f"{'s' if adapter.max_references > 1 else ''} at a time (got {count}).")


def resident_params(preset: str) -> int | None:
    """The most guide parameters one model of the preset holds at once: its largest ControlNets, as many
    as one request may name (the preset's `max_controls`: models/image/guided.py unloads the others),
    its IP-Adapter and image encoder, and the annotator models. None where the sizes are unknown (tiny)."""
    guides = guide_set(preset)
    if any(not net.size for net in guides.controls):
        return None
    nets = sorted((PARAMS[net.size] for net in guides.controls), reverse=True)[:IMAGE_PRESETS[preset].max_controls]
    adapter = guides.references
    adapter_params = PARAMS[adapter.size] + PARAMS[adapter.encoder_size] if adapter else 0
    return sum(nets) + adapter_params + sum(PARAMS[_ANNOTATOR_SIZES[name]] for name in guides.annotators)


# --- what is installed (the studio and the API list it) ----------------------------------------


def guide_weights(preset: str) -> list[Weights]:
    """Every set of weights the preset's guides may load: for `download_weights` and `atelier weights`."""
    guides = guide_set(preset)
    found = [net.weights for net in guides.controls] + list(guides.annotators.values())
    if guides.references is not None:
        found += [w for w in (guides.references.weights, guides.references.encoder) if w is not None]
    return list(dict.fromkeys(found))


def installed(weights: Weights) -> bool:
    """Whether the weights are here already (else the first request that needs them fetches them)."""
    if isinstance(weights, BuiltWeights):
        return (weights.folder / ".complete").exists()
    cache = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache/huggingface")) / "hub")
    repo = cache / f"models--{weights.repo.replace('/', '--')}"
    if weights.revision == "main":
        return (repo / "refs" / "main").exists()
    return (repo / "snapshots" / weights.revision).is_dir()


def listing(preset: str) -> dict:
    """The preset's controls and references as the studio and the API show them."""
    guides = guide_set(preset)
    controls = [
        {"mode": mode, "summary": MODE_SUMMARIES[mode], "annotator": mode not in READY_MADE_ONLY,
         "installed": installed(guides.net_for(mode).weights)
         and (mode not in ANNOTATOR_OF or installed(guides.annotators[ANNOTATOR_OF[mode]]))}
        for mode in guides.modes
    ]
    adapter = guides.references
    references = None if adapter is None else {
        "max": adapter.max_references,
        "installed": all(installed(w) for w in (adapter.weights, adapter.encoder) if w is not None),
    }
    return {"preset": preset, "family": IMAGE_PRESETS[preset].family, "max_controls": IMAGE_PRESETS[preset].max_controls,
            "controls": controls, "references": references, "upscale_control": guides.upscale_mode}
