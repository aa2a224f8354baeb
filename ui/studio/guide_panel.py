"""The image tab's Guide panel: a control (pick a mode, upload a picture or draw one, see the control
picture the model will follow, its scale), up to two more behind "Add another control" (a mode, an
uploaded picture, its scale), and a reference image beside them (its scale).

What Generate sends is request fields (models/image/guide_request.py): `controls` with up to three
controls and `references` with one reference, made here from the panel's raw values (Gradio's FileData
dicts; the request schema checks the bytes). A drawing is the control picture itself, white strokes on black
as ControlNet's scribble and line models take them, so it goes without an annotator; an uploaded
picture goes through the mode's annotator unless "Already a control picture" is ticked (and always
as it is for lines and segmentation, which have none here).

The control picture on show is the model's own annotation (Backend.annotate: a quick call that the
model makes between generations and keeps per picture and mode), made when the picture, the mode or
the model changes. A dropped PNG's ControlNet units (its IP-Adapter units: references) and a remix link's
`guide`/`reference` parameters put their settings back, and their pictures when this server still has
them (ui/generation/pictures.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio.processing_utils import save_bytes_to_cache

from models.common.errors import RequestError, UploadError
from models.common.recipes import control_units, reference_units
from models.image import guides, uploads
from models.image.guide_request import MAX_CONTROLS, Control, Reference
from models.image.uploads import MAX_IMAGE_PIXELS
from ui.errors import GenerationError
from ui.gate import Gate
from ui.generation import Backend, shelf
from ui.studio.controls import slider
from ui.studio.run import GRADIO_CACHE, admit

SOURCES = ("Upload a picture", "Draw")
CANVAS = (768, 768)  # a drawing sets the image's size: square, up to the preset's largest side


@dataclass
class ExtraControl:
    """A second or third control: a mode, an uploaded picture (annotated unless `ready`), its scale."""

    slot: gr.Group
    mode: gr.Dropdown
    picture: gr.Image
    ready: gr.Checkbox
    scale: gr.Slider

    @classmethod
    def build(cls, preset: str, number: int) -> ExtraControl:
        with gr.Group(visible=False, elem_id=f"image-guide-control-{number}") as slot:
            with gr.Row(equal_height=False):
                mode = gr.Dropdown(label=f"Control {number}", min_width=160, elem_id=f"image-guide-mode-{number}",
                                   **_modes(preset))
                picture = gr.Image(label=f"Picture to follow ({number})", sources=["upload", "clipboard"],
                                   type="filepath", height=160, min_width=160, elem_id=f"image-guide-picture-{number}")
            with gr.Row(equal_height=True):
                ready = gr.Checkbox(label="Already a control picture (no annotator)", value=False, min_width=160,
                                    elem_id=f"image-guide-ready-{number}")
                scale = slider(Control, "scale", 1.0, step=0.05, label=f"Control {number} scale", min_width=160,
                               elem_id=f"image-guide-scale-{number}")
        return cls(slot, mode, picture, ready, scale)

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.mode, self.picture, self.ready, self.scale]

    def cleared(self, preset: str) -> dict[gr.components.Component, Any]:
        return {self.slot: gr.update(visible=False), self.mode: gr.update(**_modes(preset)), self.picture: None,
                self.ready: False, self.scale: 1.0}


@dataclass
class GuidePanel:
    box: gr.Accordion
    mode: gr.Dropdown
    source: gr.Radio
    picture: gr.Image  # an upload: annotated by the mode's annotator (unless `ready`)
    drawing: gr.Sketchpad  # strokes: the control picture itself
    ready: gr.Checkbox
    scale: gr.Slider
    preview: gr.Image  # the control picture the model will follow
    reference: gr.Image
    reference_scale: gr.Slider
    reference_note: gr.Markdown
    extras: list[ExtraControl]  # the second and third controls, hidden until asked for
    more: gr.Button  # "Add another control": shows the next hidden one
    shown: gr.State  # how many control slots show (1 to MAX_CONTROLS)

    @classmethod
    def build(cls, preset: str) -> GuidePanel:
        with gr.Accordion("Guide: follow a picture's layout, or a reference's style", open=False,
                          elem_id="image-guide-box") as box:
            mode = gr.Dropdown(label="Control", elem_id="image-guide-mode", **_modes(preset))
            source = gr.Radio(list(SOURCES), value=SOURCES[0], show_label=False, elem_id="image-guide-source")
            with gr.Row(equal_height=False):
                with gr.Column(min_width=160):
                    picture = gr.Image(label="Picture to follow", sources=["upload", "clipboard"], type="filepath",
                                       height=240, elem_id="image-guide-picture")
                    # A white page to draw on: with a background, the brush is ready at once.
                    drawing = gr.Sketchpad(value=blank_page(), label="Draw the lines to follow", canvas_size=CANVAS,
                                           height=300, brush=gr.Brush(colors=["#111111"], default_size=8,
                                                                      color_mode="fixed"),
                                           layers=False, transforms=(), visible=False, elem_id="image-guide-drawing")
                preview = gr.Image(label="What the model follows", interactive=False, height=240, min_width=160,
                                   elem_id="image-guide-preview")
            with gr.Row(equal_height=True):
                ready = gr.Checkbox(label="Already a control picture (no annotator)", value=False, min_width=160,
                                    elem_id="image-guide-ready")
                scale = slider(Control, "scale", 1.0, step=0.05, label="Control scale", min_width=160,
                               info="How strongly the image follows it", elem_id="image-guide-scale")
            extras = [ExtraControl.build(preset, number) for number in range(2, MAX_CONTROLS + 1)]
            more = gr.Button("Add another control", size="sm", elem_id="image-guide-more")
            shown = gr.State(1)
            with gr.Row(equal_height=False):
                reference = gr.Image(label="Reference image: its style and subject", sources=["upload", "clipboard"],
                                     type="filepath", height=200, min_width=160, elem_id="image-guide-reference")
                with gr.Column(min_width=160):
                    reference_scale = slider(Reference, "scale", 0.6, step=0.05, label="Reference scale",
                                             elem_id="image-guide-reference-scale")
                    reference_note = gr.Markdown(visible=False, elem_id="image-guide-reference-note")
        return cls(box, mode, source, picture, drawing, ready, scale, preview, reference, reference_scale, reference_note,
                   extras, more, shown)

    @property
    def inputs(self) -> list[gr.components.Component]:
        """What Generate sends, in guide_fields' order."""
        return [self.mode, self.picture, self.drawing, self.ready, self.scale, self.reference, self.reference_scale,
                *(component for extra in self.extras for component in extra.inputs)]

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.box, self.mode, self.source, self.picture, self.drawing, self.ready, self.scale, self.preview,
                self.reference, self.reference_scale, self.reference_note, self.more, self.shown,
                *(component for extra in self.extras for component in (extra.slot, *extra.inputs))]

    def wire(self, backend: Backend, gate: Gate, preset: gr.Dropdown) -> None:
        async def show_control(preset_name: str, mode: str, picture: dict | None, drawing: dict | None, ready: bool):
            return await control_preview(backend, gate, preset_name, mode, picture, drawing, ready)

        quiet = {"api_visibility": "private", "show_progress": "hidden"}
        # Not on each stroke of a drawing: it is the control picture itself, on show as it is drawn.
        for trigger in (self.mode.change, self.picture.change, self.ready.input):
            trigger(show_control, [preset, self.mode, self.picture, self.drawing, self.ready], self.preview,
                    preprocess=False, trigger_mode="always_last", **quiet)
        # A sketch pad sends its strokes to the server as they are drawn only while an event listens to it
        # (Gradio's "realtime" editor); else Generate would get an empty page. This listener does nothing else.
        self.drawing.change(None, None, None, js="() => {}", **quiet)
        self.source.input(self._switch, self.source, [self.picture, self.drawing, self.preview, self.ready], queue=False,
                          **quiet)
        self.more.click(self.another, self.shown, [self.shown, self.more, *(extra.slot for extra in self.extras)],
                        queue=False, **quiet)

    def another(self, shown: int) -> dict[gr.components.Component, Any]:
        """One more control slot shown."""
        return self._showing(min(shown + 1, MAX_CONTROLS))

    def _showing(self, shown: int) -> dict[gr.components.Component, Any]:
        """`shown` control slots on show (the button gone once all are)."""
        return {self.shown: shown, self.more: gr.update(visible=shown < MAX_CONTROLS),
                **{extra.slot: gr.update(visible=number <= shown) for number, extra in enumerate(self.extras, 2)}}

    @staticmethod
    def _switch(source: str) -> tuple:
        """Upload or draw: the other is emptied, so what the panel shows is what Generate sends. A drawing
        is the control picture itself: no annotation to show beside it."""
        upload = source == SOURCES[0]
        return (gr.update(visible=upload, value=None), gr.update(visible=not upload, value=blank_page()),
                gr.update(visible=upload, value=None), gr.update(visible=upload))

    def for_preset(self, name: str) -> dict[gr.components.Component, Any]:
        """The preset's modes offered (the chosen one kept if it has it), and references if it takes them."""
        adapter = guides.guide_set(name).references
        why = guides.guide_set(name).no_references_because or "it has no IP-Adapter"
        return {
            self.mode: gr.update(**_modes(name)),
            **{extra.mode: gr.update(**_modes(name)) for extra in self.extras},
            self.reference: gr.update(visible=adapter is not None),
            self.reference_scale: gr.update(visible=adapter is not None),
            self.reference_note: gr.update(visible=adapter is None, value=f"{name} takes no reference image: {why}."),
        }

    def cleared(self, preset: str) -> dict[gr.components.Component, Any]:
        """No guide: what a form filled from another result's settings starts from."""
        return self.for_preset(preset) | {
            self.source: SOURCES[0], self.picture: gr.update(value=None, visible=True),
            self.drawing: gr.update(value=blank_page(), visible=False), self.ready: gr.update(value=False, visible=True),
            self.scale: 1.0, self.preview: gr.update(value=None, visible=True),
            self.reference: None, self.reference_scale: 0.6,
        } | {component: value for extra in self.extras for component, value in extra.cleared(preset).items()} \
            | self._showing(1)

    def from_query(self, preset: str, query: dict[str, str]) -> dict[gr.components.Component, Any]:
        """A remix link's guides: `guide=<mode>:<scale>:<annotate|as-is>:<hash>`, `reference=<scale>:<hash>`
        (ui/pages/permalink.py writes them); what doesn't parse is left out."""
        controls, references = [], []
        if len(parts := query.get("guide", "").split(":")) == 4:
            with contextlib.suppress(ValueError):
                controls.append({"mode": parts[0], "scale": float(parts[1]), "ready": parts[2] == "as-is",
                                 "image_hash": parts[3]})
        if len(parts := query.get("reference", "").split(":")) == 2:
            with contextlib.suppress(ValueError):
                references.append({"scale": float(parts[0]), "image_hash": parts[1]})
        return self.fill(preset, controls, references)

    def from_png(self, preset: str, data: bytes) -> dict[gr.components.Component, Any]:
        """A dropped PNG's ControlNet units, its references among them (ours, or sd-webui-controlnet's:
        models/common/recipes.py)."""
        controls = [{"mode": guides.mode_named(unit["model"]), "scale": unit["scale"], "ready": unit["module"] == "none",
                     "image_hash": unit["image_hash"]} for unit in control_units(data)]
        return self.fill(preset, controls, reference_units(data))

    def fill(self, preset: str, controls: list[dict], references: list[dict]) -> dict[gr.components.Component, Any]:
        """The panel from a recipe's or link's guides ({"mode", "scale", "ready", "image_hash"} each; the
        panel holds up to MAX_CONTROLS controls and the first reference), with their pictures where this
        server has them."""
        updates: dict[gr.components.Component, Any] = {}
        if controls and controls[0]["mode"] in guides.guide_set(preset).modes:
            control = controls[0]
            updates |= {self.box: gr.Accordion(open=True), self.mode: control["mode"], self.scale: control["scale"],
                        self.ready: gr.update(value=control["ready"], visible=True), self.source: SOURCES[0],
                        self.preview: gr.update(visible=True),
                        self.picture: gr.update(value=_at_hand(control["image_hash"], "control"), visible=True),
                        self.drawing: gr.update(value=blank_page(), visible=False)}
            more = [c for c in controls[1:MAX_CONTROLS] if c["mode"] in guides.guide_set(preset).modes]
            for extra, control in zip(self.extras, more):
                updates |= {extra.mode: control["mode"], extra.scale: control["scale"], extra.ready: control["ready"],
                            extra.picture: _at_hand(control["image_hash"], "control")}
            updates |= self._showing(1 + len(more))
        if references and guides.guide_set(preset).references is not None:
            reference = references[0]
            updates |= {self.box: gr.Accordion(open=True), self.reference_scale: reference["scale"],
                        self.reference: _at_hand(reference["image_hash"], "reference")}
        return updates


def blank_page() -> dict:
    """The sketch pad's empty value: a white page the canvas's size (strokes go on a layer above it)."""
    from PIL import Image

    return {"background": Image.new("RGB", CANVAS, "white"), "layers": [], "composite": None}


def _modes(preset: str) -> dict[str, Any]:
    listed = guides.guide_set(preset).modes
    return {"choices": [(f"{mode}: {guides.MODE_SUMMARIES[mode]}", mode) for mode in listed],
            "value": listed[0] if listed else None}


def _at_hand(image_hash: str, what: str) -> str | None:
    """The picture this server still has for a hash, as a file Gradio serves; else None, and a warning."""
    picture = shelf.find(image_hash or "")
    if picture is None:
        gr.Warning(f"The {what} picture isn't at hand here any more: add it again (its settings are filled in).")
        return None
    return save_bytes_to_cache(picture, f"{what}.png", GRADIO_CACHE)


# --- the panel's values as request fields ------------------------------------------------------


def guide_fields(mode: str | None, picture: dict | None, drawing: dict | None, ready: bool, scale: float | None,
                 reference: dict | None, reference_scale: float | None, *extras) -> dict:
    """`controls` and `references` from the panel's raw values (nothing for an empty panel); `extras`: the
    other control slots' (mode, picture, ready, scale), one after another. Blocking: reads files."""
    fields: dict = {}
    control = drawn(drawing)
    as_is = control is not None or bool(ready)
    slots = [(mode, control if control is not None else _file(picture), as_is, scale)]
    slots += [(m, _file(p), bool(r), weight) for m, p, r, weight in zip(*[iter(extras)] * 4)]
    controls = [{"mode": m, "image": image, "preprocess": not (ready_made or m in guides.READY_MADE_ONLY)}
                | ({"scale": weight} if weight is not None else {})
                for m, image, ready_made, weight in slots if image is not None and m]
    if controls:
        fields["controls"] = controls
    if (picture_bytes := _file(reference)) is not None:
        fields["references"] = [{"image": picture_bytes} | ({"scale": reference_scale} if reference_scale is not None
                                                            else {})]
    return fields


def _file(value: dict | str | None) -> bytes | None:
    path = value.get("path") if isinstance(value, dict) else value
    return Path(path).read_bytes() if path else None


def drawn(drawing: dict | None) -> bytes | None:
    """A sketch pad's strokes as a control picture, white on black (PNG); None if nothing is drawn (or an
    unreadable layer, for the schema to refuse as any file)."""
    layers = [layer for layer in (drawing or {}).get("layers") or [] if layer and layer.get("path")]
    strokes = None
    for layer in layers:
        try:
            image = uploads.open_image(Path(layer["path"]).read_bytes(), MAX_IMAGE_PIXELS).convert("RGBA")
        except UploadError:
            return Path(layer["path"]).read_bytes()
        painted = np.asarray(image)[..., 3] > 0
        strokes = painted if strokes is None else strokes | painted
    if strokes is None or not strokes.any():
        return None
    from PIL import Image

    return uploads.png(Image.fromarray(np.where(strokes, 255, 0).astype(np.uint8)).convert("RGB"))


async def control_preview(backend: Backend, gate: Gate, preset: str, mode: str | None, picture: dict | None,
                          drawing: dict | None, ready: bool) -> str | None:
    """The control picture the model will follow, as a file Gradio serves (None: nothing to show). An
    annotation is a model call: the gate admits it as it does a generation (ui/api/guides.py likewise)."""
    fields = await asyncio.to_thread(guide_fields, mode, picture, drawing, ready, None, None, None)
    if not fields.get("controls"):
        return None
    control = fields["controls"][0]
    try:
        if not control["preprocess"]:
            made = control["image"]
        else:
            with admit(gate).running():
                made = await backend.annotate(preset, control["image"], control["mode"])
    except (RequestError, GenerationError) as e:
        gr.Warning(f"No control picture: {e}")
        return None
    except gr.Error as e:  # the gate's sentence: too many calls, the GPU budget spent, the studio busy
        gr.Warning(f"No control picture: {e.message}")
        return None
    return await asyncio.to_thread(save_bytes_to_cache, made, "control.png", GRADIO_CACHE)
