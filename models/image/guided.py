"""Guides on a loaded pipeline: ControlNets, the IP-Adapter, and upscaling in tiles.

`Guides` belongs to one ImageGenerator instance. It loads each ControlNet on first use and keeps it
(a mode's next request pays nothing), up to the preset's `max_controls`: past that, the least
recently used ones the batch doesn't need are unloaded first (with the pipelines built on them), so
a GPU sized for its weights, a full batch and that many ControlNets never holds more (ui/doctor.py
does the arithmetic; SD3.5 Large's three 8 GB ControlNets would not fit beside a full batch). It
builds ControlNet pipelines from the loaded one with
`from_pipe` (the same UNet or transformer, VAE and text encoders: only the ControlNet is new), and
turns a job's controls and references into that pipeline's arguments. Several controls run as
diffusers' multi-ControlNet, each with its own scale and start/end; a union model (SDXL's, FLUX's)
is listed once per control, with that control's mode.

The IP-Adapter is loaded on first use and then attached only for the batches that send references:
its attention processors (and, on a UNet, its image projection) are swapped in and out, so a batch
without references runs the very pipeline it ran before the adapter was loaded. Per-picture scales
on a UNet use the adapter's masks (each picture its own attention, a mask of ones); the SD3 and
FLUX adapters take one picture.

Runs on the batcher's one model thread (models/common/batching.py), like the pipelines.
"""

from __future__ import annotations

import contextlib
import gc
from collections import OrderedDict
from collections.abc import Iterator

from models.common.weights import LOAD_LOCK, ensure_weights
from models.image import uploads
from models.image.annotators import Annotators
from models.image.guides import ControlNet, IpAdapter, check_control_count, check_mode, check_references, guide_set
from models.presets import IMAGE_PRESETS

# The diffusers classes of each kind of ControlNet, and their pipelines by input ("text": none,
# "img2img": an image, "inpaint": an image and a mask).
MODEL_CLASSES = {"sd": "ControlNetModel", "union": "ControlNetUnionModel", "sd3": "SD3ControlNetModel",
                 "flux": "FluxControlNetModel"}
PIPELINES = {
    "sd": {"text": "StableDiffusionControlNetPipeline", "img2img": "StableDiffusionControlNetImg2ImgPipeline",
           "inpaint": "StableDiffusionControlNetInpaintPipeline"},
    "union": {"text": "StableDiffusionXLControlNetUnionPipeline",
              "img2img": "StableDiffusionXLControlNetUnionImg2ImgPipeline",
              "inpaint": "StableDiffusionXLControlNetUnionInpaintPipeline"},
    "sd3": {"text": "StableDiffusion3ControlNetPipeline"},
    "flux": {"text": "FluxControlNetPipeline", "img2img": "FluxControlNetImg2ImgPipeline",
             "inpaint": "FluxControlNetInpaintPipeline"},
}
PLAIN = {"img2img": "AutoPipelineForImage2Image", "inpaint": "AutoPipelineForInpainting"}


class Guides:
    def __init__(self, pipe, preset: str, device: str):
        self.pipe, self.device, self.preset = pipe, device, preset
        self.set = guide_set(preset)
        self.annotators = Annotators(self.set, device)
        self.nets: OrderedDict[tuple, object] = OrderedDict()  # by _key(net), least recently used first
        self.max_loaded = IMAGE_PRESETS[preset].max_controls
        self.pipelines: dict[tuple, object] = {}
        self.adapter = ReferenceAdapter(pipe, self.set.references, self) if self.set.references else None

    def annotate(self, picture, mode: str):
        return self.annotators.annotate(picture, mode)

    def prepare(self, job, kind: str, count: int, size: tuple[int, int] | None = None,
                tile_picture=None) -> tuple[object | None, dict]:
        """The pipeline for the job's guides on input `kind` (None: the caller's own), and its arguments
        for `count` images. `tile_picture`: an upscale's tile, which its tile or blur control copies."""
        check_control_count(len(job.controls), self.preset)  # checked again here, as adapters are: a direct
        for control in job.controls:  # caller meets the same 4xx
            check_mode(control.mode, self.preset, control.preprocess)
        check_references(len(job.references), self.preset)
        controls = [(c.mode, self._control_picture(c, size or (job.width, job.height)), c.scale, c.start, c.end)
                    for c in job.controls]
        if tile_picture is not None and self.set.upscale_mode:
            mode = self.set.upscale_mode
            controls.append((mode, self.annotate(tile_picture, mode), 1.0, 0.0, 1.0))
        nets = tuple(self.set.net_for(mode) for mode, *_ in controls)
        arguments = self._control_arguments(nets, controls, kind) if controls else {}
        if job.references:
            arguments |= self.adapter.arguments(job.references, size or (job.width, job.height))
        if not controls and not job.references:
            return None, {}
        return self.pipeline(kind, nets), arguments

    def pipeline(self, kind: str, nets: tuple[ControlNet, ...]):
        """A pipeline on the loaded one's modules, for this input kind and these ControlNets (kept)."""
        import diffusers

        self._make_room(nets)
        models = [self._controlnet(net) for net in nets]  # loaded if need be; now the most recently used
        key = (kind, tuple(_key(net) for net in nets))
        if key not in self.pipelines:
            if not nets:
                made = self.pipe if kind == "text" else getattr(diffusers, PLAIN[kind]).from_pipe(self.pipe)
            else:
                # The VAE passed on by name: from_pipe drops a component whose class differs from the
                # pipeline's annotation, as a fast decoder's AutoencoderTiny does.
                made = getattr(diffusers, PIPELINES[nets[0].loader][kind]).from_pipe(self.pipe, controlnet=models,
                                                                                     vae=self.pipe.vae)
            made.set_progress_bar_config(disable=True)
            self.pipelines[key] = made
        return self.pipelines[key]

    def forget_pipelines(self) -> None:
        """After the IP-Adapter's image encoder joins the loaded pipeline: derived ones lack it."""
        self.pipelines.clear()

    @contextlib.contextmanager
    def applied(self, job) -> Iterator[None]:
        if not job.references:
            yield
            return
        with self.adapter.attached([r.scale for r in job.references]):
            yield

    def _controlnet(self, net: ControlNet):
        import diffusers

        if _key(net) not in self.nets:
            folder = ensure_weights(net.weights)
            dtype = (getattr(self.pipe, "unet", None) or self.pipe.transformer).dtype
            with LOAD_LOCK:  # see models/common/weights.py
                model = getattr(diffusers, MODEL_CLASSES[net.loader]).from_pretrained(
                    folder / net.subfolder if net.subfolder else folder, torch_dtype=dtype)
            self.nets[_key(net)] = model.to(self.device)
        self.nets.move_to_end(_key(net))
        return self.nets[_key(net)]

    def _make_room(self, nets: tuple[ControlNet, ...]) -> None:
        """Unload the least recently used ControlNets the batch doesn't need until its own fit within
        max_loaded, before any is loaded: the GPU never holds one more than the arithmetic allows."""
        import torch

        wanted = {_key(net) for net in nets}
        arriving = len(wanted - set(self.nets))
        for key in [k for k in self.nets if k not in wanted]:
            if len(self.nets) + arriving <= self.max_loaded:
                break
            del self.nets[key]
            self.pipelines = {k: p for k, p in self.pipelines.items() if key not in k[1]}  # they hold it too
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _control_picture(self, control, size: tuple[int, int]):
        """The control picture at the output size: annotated from the sent picture, or the picture itself."""
        from PIL import Image

        resample = Image.NEAREST if control.mode == "segmentation" else Image.LANCZOS
        picture = uploads.load(control.image).convert("RGB").resize(size, resample)
        return self.annotate(picture, control.mode) if control.preprocess else picture

    @staticmethod
    def _control_arguments(nets: tuple[ControlNet, ...], controls: list[tuple], kind: str) -> dict:
        """diffusers' multi-ControlNet arguments: one list entry per control."""
        loader = nets[0].loader
        pictures = [picture for _, picture, *_ in controls]
        arguments = {
            "controlnet_conditioning_scale": [scale for *_, scale, _, _ in controls],
            "control_guidance_start": [start for *_, start, _ in controls],
            "control_guidance_end": [end for *_, end in controls],
        }
        if loader == "union":  # SDXL's union pipeline: a list of pictures and of modes per ControlNet
            return arguments | {"control_image": [[p] for p in pictures],
                                "control_mode": [[net.modes[mode]] for net, (mode, *_) in zip(nets, controls)]}
        if loader == "flux" and any(net.modes[mode] is not None for net, (mode, *_) in zip(nets, controls)):
            arguments["control_mode"] = [net.modes[mode] for net, (mode, *_) in zip(nets, controls)]
        # Stable Diffusion's text-to-image ControlNet pipeline calls its control picture `image`.
        return arguments | {"image" if loader == "sd" and kind == "text" else "control_image": pictures}


def _key(net: ControlNet) -> tuple:
    return net.weights, net.subfolder, net.loader


class ReferenceAdapter:
    """The family's IP-Adapter: loaded on first use, attached only while a batch with references runs."""

    def __init__(self, pipe, spec: IpAdapter, guides: Guides):
        self.pipe, self.spec, self.guides = pipe, spec, guides
        self.denoiser = getattr(pipe, "unet", None) or pipe.transformer
        self.plain: dict | None = None  # the attention processors without the adapter, and with it
        self.adapted: dict | None = None
        self.projection = None  # a UNet's image projection (encoder_hid_proj)

    def arguments(self, references: list, size: tuple[int, int]) -> dict:
        import torch

        self._load()
        pictures = [uploads.load(r.image).convert("RGB") for r in references]
        if self.spec.max_references == 1:
            return {"ip_adapter_image": pictures[0]}
        # One adapter, several pictures: each its own attention, with its own scale, under a mask of ones.
        masks = [torch.ones(1, len(pictures), size[1], size[0])]
        return {"ip_adapter_image": [pictures], "cross_attention_kwargs": {"ip_adapter_masks": masks}}

    @contextlib.contextmanager
    def attached(self, scales: list[float]) -> Iterator[None]:
        self._load()
        try:
            self._attach(scales)
            yield
        finally:
            self._detach()

    def _load(self) -> None:
        if self.adapted is not None:
            return
        self.plain = dict(self.denoiser.attn_processors)
        folder = ensure_weights(self.spec.weights)
        encoder = ensure_weights(self.spec.encoder) if self.spec.encoder else None
        with LOAD_LOCK:
            if hasattr(self.pipe, "unet"):  # h94's layout: the encoder is a folder of the adapter's repo
                self.pipe.load_ip_adapter(str(folder), subfolder=self.spec.subfolder, weight_name=self.spec.weight_name,
                                          image_encoder_folder=self.spec.encoder_folder)
            elif type(self.pipe).__name__.startswith("Flux"):
                self.pipe.load_ip_adapter(str(folder), weight_name=self.spec.weight_name,
                                          image_encoder_pretrained_model_name_or_path=str(encoder))
            else:  # SD3: its loader takes the encoder's own path
                self.pipe.load_ip_adapter(str(folder), weight_name=self.spec.weight_name, subfolder="",
                                          image_encoder_folder=str(encoder or folder / "image_encoder"))
        self.pipe.image_encoder.to(self.device)
        self.adapted = dict(self.denoiser.attn_processors)
        self.projection = getattr(self.denoiser, "encoder_hid_proj", None)
        self.guides.forget_pipelines()
        self._detach()

    @property
    def device(self) -> str:
        return self.guides.device

    def _attach(self, scales: list[float]) -> None:
        self._set_processors(self.adapted)
        if hasattr(self.pipe, "unet"):
            self.denoiser.encoder_hid_proj = self.projection
            self.denoiser.config.encoder_hid_dim_type = "ip_image_proj"
            for processor in self.adapted.values():
                if hasattr(processor, "to_k_ip"):
                    processor.scale = [list(scales)]  # one adapter, a scale per picture
        else:
            self.pipe.set_ip_adapter_scale(scales[0])

    def _set_processors(self, chosen: dict) -> None:
        # Over all of the denoiser's attention layers: SD3's adapter brings some of its own (in its
        # image projection), which stay as they are.
        self.denoiser.set_attn_processor({**self.denoiser.attn_processors, **chosen})

    def _detach(self) -> None:
        self._set_processors(self.plain)
        if hasattr(self.pipe, "unet"):
            self.denoiser.encoder_hid_proj = None
            self.denoiser.config.encoder_hid_dim_type = None
