"""The studio's image tab: a prompt and a preset's settings in, a gallery of results out.

Gradio API: `/generate_image` (prompt, negative_prompt, preset, width, height, steps,
guidance, seed, random_seed, num_images, image, strength, loras, control_mode, control_image,
control_drawing, control_ready, control_scale, reference_image, reference_scale) → (images, seed
used, details); `image` is the image editor's value (its background the picture, its layer the
mask); `loras` is "id:scale,..." (LoRA adapters from the library); the control and reference
arguments are the Guide panel's (ui/studio/guide_panel.py: a picture file, or a sketch pad's value).
Any argument left None takes the preset's default, as in the REST API.

Image input: an image editor holds a picture to start from (an upload, the clipboard, or a
result put there with "Use as input"); strokes painted on it are the inpainting mask. With a
picture there, the output takes its size and Strength says how much is redrawn.

Guide (guide_panel.py): a control and a reference image. Under the result, Vary and Upscale
(follow_ups.py) follow it up in one click.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache

from models.common.errors import RequestError, UploadError
from models.common.events import ProgressEvent
from models.common.recipes import recipe_from_png
from models.image import uploads
from models.image.request import DEFAULT_STRENGTH
from models.image.uploads import MAX_IMAGE_PIXELS
from models.presets import IMAGE_PRESETS, ImagePreset, get_preset
from models.requests import ImageRequest
from ui.gate import Gate
from ui.generation import Backend, result_image
from ui.store import ResultStore
from ui.studio.controls import (
    SeedRow,
    bounds,
    checked_fields,
    examples,
    generate_buttons,
    overlay,
    slider,
    wire_generation,
)
from ui.studio.follow_ups import FollowUpRow
from ui.studio.guide_panel import GuidePanel, guide_fields
from ui.studio.lora_picker import LoraPicker
from ui.studio.run import GRADIO_CACHE, cached_preview, media_files, run_with_previews
from ui.studio.session import History
from ui.studio.share import ShareRow

# Aspect ratios offered as one click each; the exact size stays editable under "Advanced".
ASPECTS: dict[str, tuple[int, int]] = {
    "Square": (1, 1),
    "4:3": (4, 3),
    "3:4": (3, 4),
    "16:9": (16, 9),
    "9:16": (9, 16),
}


def size_for(aspect: str, preset: ImagePreset) -> tuple[int, int]:
    """Width and height for an aspect ratio at about the preset's native pixel count (what its
    model was trained on): the short side at least the schema's minimum, the long side within
    the preset's maximum, the short side derived from the long one on the schema's grid."""
    a, b = ASPECTS[aspect]
    ratio = max(a, b) / min(a, b)
    long = min(max(preset.size * math.sqrt(ratio), bounds(ImageRequest, "width").low * ratio), preset.max_size)
    long = _on_grid(long)
    short = _on_grid(long / ratio)
    return (long, short) if a >= b else (short, long)


def aspect_of(width: int, height: int) -> str | None:
    """The offered aspect ratio a size has, if any: its short side is the long one over the ratio."""
    for name, (a, b) in ASPECTS.items():
        long, short = (width, height) if a >= b else (height, width)
        if short == _on_grid(long * min(a, b) / max(a, b)):
            return name
    return None


def _on_grid(pixels: float) -> int:
    grid = int(bounds(ImageRequest, "width").step or 1)
    return round(pixels / grid) * grid


def input_fields(editor: dict | None) -> dict:
    """The request fields an image editor's raw value sets: its picture as `image`, and what is
    painted on its brush layer as `mask` (nothing painted: no mask, plain image-to-image).

    Gradio hands the value over unprocessed (FileData dicts), having checked that each path is
    one of its own uploads (see mount_studio); the request schema then checks the bytes.
    """
    background = (editor or {}).get("background")
    if not background or not background.get("path"):
        return {}
    fields = {"image": Path(background["path"]).read_bytes()}
    for layer in editor.get("layers") or []:
        if layer and layer.get("path") and _painted(data := Path(layer["path"]).read_bytes()):
            fields["mask"] = data
    return fields


def _painted(layer: bytes) -> bool:
    """Whether a brush layer has a stroke on it; an unreadable one counts, so the schema says why."""
    try:
        return not uploads.is_empty(uploads.to_mask(uploads.open_image(layer, MAX_IMAGE_PIXELS)))
    except UploadError:
        return True


def describe(event: ProgressEvent) -> tuple[tuple[int, int], str]:
    return (event["done"], event["total"]), event["stage"].capitalize()


def details(record: dict) -> str:
    p = record["parameters"]
    count = len(record["files"])
    return (
        f"**{count} image{'s' if count > 1 else ''}** · {p['preset']} · {p['width']}×{p['height']} · "
        f"{p['steps']} step{'s' if p['steps'] > 1 else ''} · guidance {p['guidance']:g} · seed `{record['seed']}` · "
        f"{record['seconds']['generate']:.1f} s"
        + (f" · {record['input']['mode']}, strength {p['strength']:g}" if record.get("input") else "")
        + "".join(f" · LoRA {c['id']} × {c['scale']:g}" for c in p.get("loras") or [])
        + (f"\n\n**{message}**" if (message := (record.get("safety") or {}).get("message")) else "")
    )


@dataclass
class ImageTab:
    backend: Backend
    gate: Gate  # every generation the tab starts (Generate, Vary, Upscale) is admitted by it
    store: ResultStore
    default_preset: str
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    preset: gr.Dropdown
    aspect: gr.Radio
    num_images: gr.Slider
    width: gr.Slider
    height: gr.Slider
    steps: gr.Slider
    guidance: gr.Slider
    seed: SeedRow
    generate: gr.Button
    stop: gr.Button  # in Generate's place while a generation runs
    gallery: gr.Gallery
    details: gr.Markdown
    share: ShareRow
    current: gr.State  # id of the result on show, for Share
    recipe_file: gr.File  # a PNG dropped here fills the form from the recipe it carries (models/common/recipes.py)
    input_box: gr.Accordion
    input_image: gr.ImageEditor  # a picture to start from; strokes on it are the inpainting mask
    strength: gr.Slider
    use_as_input: gr.Button  # puts the result on show into the editor
    animate: gr.Button  # the result on show as the Video tab's start picture (wired in page.py)
    loras: LoraPicker
    guide: GuidePanel
    follow_ups: FollowUpRow  # Vary and Upscale of the result on show

    @classmethod
    def build(cls, backend: Backend, store: ResultStore, history: gr.State, strip: gr.HTML, gate: Gate) -> ImageTab:
        preset = get_preset("image", backend.defaults["image"])
        with gr.Row(equal_height=False, elem_classes="studio-row"):
            with gr.Column(scale=5, min_width=320, elem_classes="controls"):
                prompt = gr.Textbox(
                    label="Prompt", lines=3, max_lines=6, autofocus=True, elem_id="image-prompt",
                    placeholder="A lighthouse on a cliff at dawn, watercolor, soft light",
                )
                negative_prompt = gr.Textbox(
                    "", label="Negative prompt", lines=1, placeholder="What to keep out: blurry, text, watermark",
                    visible=preset.negative_prompt, elem_id="image-negative",
                )
                generate, stop = generate_buttons("image", "Generate image")
                with gr.Row():
                    preset_box = gr.Dropdown(
                        choices=list(IMAGE_PRESETS), value=preset.name, label="Model", info=preset.summary, scale=3,
                        elem_id="image-preset",
                    )
                    num_images = slider(ImageRequest, "num_images", 1, label="Images", scale=2, elem_id="image-count")
                aspect = gr.Radio(list(ASPECTS), value="Square", label="Aspect", elem_classes="aspect",
                                  elem_id="image-aspect")
                lora_picker = LoraPicker.build(preset.name, preset_box)
                seed = SeedRow.build("image")
                width, height, steps, guidance = _advanced(preset)
                input_box, input_image, strength = _image_input()
                guide = GuidePanel.build(preset.name)
                examples("image", prompt)
                recipe_file = gr.File(
                    label="Settings from a PNG: drop one made here or in AUTOMATIC1111", file_types=[".png"],
                    type="binary", height=130, elem_id="image-recipe",
                )
            with gr.Column(scale=6, min_width=320, elem_classes="output"):
                gallery = gr.Gallery(
                    label="Images", columns=2, height=520, object_fit="contain", preview=True,
                    buttons=["download", "fullscreen"], elem_id="image-gallery", interactive=False,
                )
                result_details = gr.Markdown(label="Details", elem_classes="details", elem_id="image-details")
                share = ShareRow.build("image")
                with gr.Row():
                    use_as_input = gr.Button("Use as input", size="sm", elem_id="image-use-input")
                    animate = gr.Button("Animate", size="sm", elem_id="image-animate")
                    follow_ups = FollowUpRow.build()
        tab = cls(backend, gate, store, backend.defaults["image"], prompt, negative_prompt, preset_box, aspect, num_images,
                  width, height, steps, guidance, seed, generate, stop, gallery, result_details, share, gr.State(None),
                  recipe_file, input_box, input_image, strength, use_as_input, animate, lora_picker, guide, follow_ups)
        tab._wire(backend, store, history, strip)
        return tab

    def _wire(self, backend: Backend, store: ResultStore, history: gr.State, strip: gr.HTML) -> None:
        async def generate_image(
            prompt: str, negative_prompt: str | None, preset: str | None, width: int | None, height: int | None,
            steps: int | None, guidance: float | None, seed: int | None, random_seed: bool, num_images: int,
            session: History, image: dict | None = None, strength: float | None = None, loras: str | None = None,
            control_mode: str | None = None, control_image: dict | None = None, control_drawing: dict | None = None,
            control_ready: bool = False, control_scale: float | None = None, reference_image: dict | None = None,
            reference_scale: float | None = None, control_2_mode: str | None = None, control_2_image: dict | None = None,
            control_2_ready: bool = False, control_2_scale: float | None = None, control_3_mode: str | None = None,
            control_3_image: dict | None = None, control_3_ready: bool = False, control_3_scale: float | None = None,
            progress: gr.Progress = gr.Progress(),
        ):
            fields = dict(prompt=prompt, negative_prompt=negative_prompt, preset=preset, width=width, height=height,
                          steps=steps, guidance=guidance, seed=SeedRow.chosen(seed, random_seed), num_images=num_images,
                          loras=loras or None)  # "id:scale,id:scale" (models/image/request.py reads the text)
            guided = await asyncio.to_thread(guide_fields, control_mode, control_image, control_drawing, control_ready,
                                             control_scale, reference_image, reference_scale, control_2_mode,
                                             control_2_image, control_2_ready, control_2_scale, control_3_mode,
                                             control_3_image, control_3_ready, control_3_scale)
            # A picture's size rules (the Advanced sizes are for text-to-image): the input's, else the control's.
            if inputs := await asyncio.to_thread(input_fields, image):  # the editor: a picture, a painted mask
                fields |= inputs | {"strength": strength, "width": None, "height": None}
            elif guided.get("controls"):
                fields |= {"width": None, "height": None}
            async for update in self.results(fields | guided, session, progress):
                yield update

        # The bar goes on the details line, not the gallery: over the gallery, Gradio's progress
        # overlay would hide the image forming there.
        wire_generation(
            self, generate_image,
            [self.prompt, self.negative_prompt, self.preset, self.width, self.height, self.steps, self.guidance,
             self.seed.seed, self.seed.randomize, self.num_images, history, self.input_image, self.strength,
             self.loras.text, *self.guide.inputs],
            api_name="generate_image", progress_on=self.details, store=store, history=history, strip=strip,
        )
        self.aspect.input(self._resize, [self.aspect, self.preset], [self.width, self.height],
                          api_visibility="private", show_progress="hidden")
        self.guide.wire(backend, self.gate, self.preset)
        self.follow_ups.wire(self, store, history, strip)

        self.recipe_file.upload(self.load_recipe, self.recipe_file, [*self.fill_outputs, self.recipe_file],
                                api_visibility="private", show_progress="hidden")
        self.use_as_input.click(self.input_from_result, self.current, [self.input_box, self.input_image],
                                api_visibility="private", show_progress="hidden")

    def load_recipe(self, data: bytes | None) -> dict:
        """Fill the form from a dropped PNG's recipe, then clear the drop zone for the next one."""
        if not data:  # the file was cleared
            return {self.recipe_file: gr.skip()}
        recipe = recipe_from_png(data)
        if recipe is None:
            gr.Warning("That file carries no settings: drop a PNG made in Atelier or AUTOMATIC1111.")
            return {self.recipe_file: None}
        try:
            values = checked_fields(self.backend, "image", recipe)
        except RequestError as e:
            # Often an adapter this library lacks (an A1111 PNG names its own): the rest still fills the form.
            try:
                values = checked_fields(self.backend, "image", {k: v for k, v in recipe.items() if k != "loras"})
            except RequestError:
                gr.Warning(f"That PNG's settings can't be used here: {e}")
                return {self.recipe_file: None}
            gr.Warning(f"That PNG's LoRA adapters are left out: {e}")
        preset = values.get("preset") or self.default_preset
        return {**self.fill(values), **self.guide.from_png(preset, data), self.recipe_file: None}

    async def results(self, fields: dict, session: History, progress: gr.Progress):
        """Run a generation of these fields: its image forming in the gallery, then the result on show."""
        async for preview, record in run_with_previews(self.backend, self.store, "image", fields, session,
                                                       progress, describe, gate=self.gate):
            if record is None:  # the image forming (models/image/previews.py), as a file Gradio serves
                yield {self.gallery: [await asyncio.to_thread(cached_preview, preview)]}
            else:
                yield await self.show(record)

    def input_from_result(self, result_id: str | None) -> dict[gr.components.Component, Any]:
        """The image editor opened on a saved result's first image (its mask cleared), to start from it."""
        if not result_id:
            raise gr.Error("Make or pick an image first: it goes into the image input.", print_exception=False)
        try:
            data = result_image(self.store, result_id)
        except RequestError as e:
            raise gr.Error(str(e), print_exception=False) from None
        path = save_bytes_to_cache(data, "input.png", GRADIO_CACHE)
        return {self.input_box: gr.Accordion(open=True),
                self.input_image: {"background": path, "layers": [], "composite": path}}

    # --- filling the form (preset changes, history, remix links) ---------------------------

    @property
    def fill_outputs(self) -> list[gr.components.Component]:
        return [self.prompt, self.negative_prompt, self.preset, self.aspect, self.num_images, self.width,
                self.height, self.steps, self.guidance, self.seed.seed, self.seed.randomize, self.strength,
                self.input_box, self.input_image, *self.loras.outputs, *self.guide.outputs]

    def preset_settings(self, name: str) -> dict[gr.components.Component, Any]:
        """A preset's defaults and limits for every control that depends on the preset."""
        return self._preset_controls(name) | self.loras.for_preset(name) | self.guide.for_preset(name)

    def _preset_controls(self, name: str) -> dict[gr.components.Component, Any]:
        """preset_settings but the adapters, which `fill` sets from the request's own."""
        p = get_preset("image", name)
        width, height = bounds(ImageRequest, "width"), bounds(ImageRequest, "height")
        return {
            self.preset: gr.update(value=p.name, info=p.summary),
            self.negative_prompt: gr.update(visible=p.negative_prompt),
            self.aspect: "Square",
            self.width: gr.update(value=p.size, maximum=min(width.high, p.max_size)),
            self.height: gr.update(value=p.size, maximum=min(height.high, p.max_size)),
            self.steps: gr.update(value=p.steps, maximum=min(bounds(ImageRequest, "steps").high, p.max_steps)),
            self.guidance: p.guidance,
        }

    def fill(self, values: dict) -> dict[gr.components.Component, Any]:
        """Set the form from request fields (a history entry's parameters, a remix link's query)."""
        fields = {"prompt": self.prompt, "negative_prompt": self.negative_prompt, "num_images": self.num_images,
                  "steps": self.steps, "guidance": self.guidance, "width": self.width, "height": self.height,
                  "strength": self.strength}
        preset = values.get("preset") or self.default_preset
        updates = overlay(self._preset_controls(preset), values, fields, self.seed)
        if values.get("width") or values.get("height"):
            updates[self.aspect] = aspect_of(updates[self.width]["value"], updates[self.height]["value"])
        updates.update(self.loras.fill(preset, values.get("loras") or []))
        return updates | self.guide.cleared(preset)  # a recipe's or link's guides come after (GuidePanel.fill)

    async def show(self, record: dict) -> dict[gr.components.Component, Any]:
        """Put a result on show: its images, the seed it used, its details."""
        return {
            self.gallery: await media_files(self.store, record),
            self.seed.seed: record["seed"],
            self.details: details(record),
            self.current: record["id"],
        }

    @property
    def show_outputs(self) -> list[gr.components.Component]:
        return [self.gallery, self.seed.seed, self.details, self.current]

    def _resize(self, aspect: str, preset: str) -> tuple[int, int]:
        return size_for(aspect, get_preset("image", preset))


def _advanced(preset: ImagePreset) -> tuple:
    """The Advanced accordion: width, height, steps and guidance, bounded by the preset."""
    with gr.Accordion("Advanced", open=False, elem_id="image-advanced"):
        with gr.Row():
            width = slider(ImageRequest, "width", preset.size, high=preset.max_size, label="Width",
                           elem_id="image-width")
            height = slider(ImageRequest, "height", preset.size, high=preset.max_size, label="Height",
                            elem_id="image-height")
        with gr.Row():
            steps = slider(ImageRequest, "steps", preset.steps, high=preset.max_steps, label="Steps",
                           elem_id="image-steps")
            guidance = slider(ImageRequest, "guidance", preset.guidance, step=0.5, label="Guidance",
                              elem_id="image-guidance")
    return width, height, steps, guidance


def _image_input() -> tuple:
    """The Image input accordion: a picture to start from, a brush for what to redraw, a strength."""
    with gr.Accordion("Image input: start from a picture, paint what to redraw", open=False,
                      elem_id="image-input-box") as input_box:
        input_image = gr.ImageEditor(
            label="Input image: paint what to redraw",
            # The handler reads its raw value (preprocess=False), files as uploaded:
            # the request schema checks and converts them, as it does for the API.
            sources=["upload", "clipboard"], format="png",
            brush=gr.Brush(colors=["#ffffff"], default_size=24, color_mode="fixed"),
            eraser=gr.Eraser(default_size=24), layers=False, transforms=(), height=420,
            elem_id="image-input",
        )
        strength = slider(ImageRequest, "strength", DEFAULT_STRENGTH, step=0.05, label="Strength",
                          info="How much is redrawn: 0 keeps the picture, 1 draws anew",
                          elem_id="image-strength")
    return input_box, input_image, strength
