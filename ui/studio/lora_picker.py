"""The image tab's LoRA adapter picker: a searchable list of the adapters that fit the chosen
model (up to MAX_LORAS) and a scale slider for each one chosen.

What a generation receives is one text, "id:scale,id:scale" (the request schema's text form of
`loras`, models/image/request.py), kept in a hidden box: the browser composes it from the picker and
the sliders as they move (no round trip, so a click on Generate right after a slider move
sends the new scale), and it remembers each adapter's scale when another is added or removed.
gradio_client callers pass the same text as `loras`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from models.image import loras
from models.image.request import LORA_SCALE, MAX_LORAS, LoraChoice, loras_from_text
from models.presets import get_preset

# The text from the picker's ids and the sliders' values, in the browser.
_COMPOSE_JS = "(ids, ...scales) => (ids || []).map((id, i) => `${id}:${scales[i]}`).join(',')"


@dataclass
class LoraPicker:
    picker: gr.Dropdown
    scales: list[gr.Slider]
    text: gr.Textbox  # hidden: what Generate sends
    preset: gr.Dropdown  # the tab's model: which adapters fit

    @classmethod
    def build(cls, preset_name: str, preset: gr.Dropdown) -> LoraPicker:
        picker = gr.Dropdown(
            **_offer(preset_name), value=[], multiselect=True, filterable=True, max_choices=MAX_LORAS,
            label="LoRA adapters", elem_id="image-loras",
        )
        with gr.Row():
            scales = [
                gr.Slider(LORA_SCALE[0], LORA_SCALE[1], value=1.0, step=0.05, label=f"Scale {i + 1}", visible=False,
                          min_width=140, elem_id=f"image-lora-scale-{i}")
                for i in range(MAX_LORAS)
            ]
        text = gr.Textbox("", visible=False, elem_id="image-loras-value")
        self = cls(picker, scales, text, preset)
        self._wire()
        return self

    def _wire(self) -> None:
        def chosen(ids: list[str] | None, text: str) -> dict:
            """The sliders for the adapters now chosen, each keeping the scale it had."""
            before = {c.id: c.scale for c in _parse(text)}
            return self._show([LoraChoice(id=i, scale=before.get(i, 1.0)) for i in ids or []])

        self.picker.input(chosen, [self.picker, self.text], [*self.scales, self.text], api_visibility="private",
                          show_progress="hidden", queue=False)
        for scale in self.scales:
            scale.change(None, [self.picker, *self.scales], self.text, js=_COMPOSE_JS, api_visibility="private",
                         show_progress="hidden", queue=False)
        # The library may have grown since the page loaded (`atelier loras add`, `modal run app.py::add_lora`).
        self.picker.focus(lambda name: gr.update(**_offer(name)), self.preset, self.picker,
                          api_visibility="private", show_progress="hidden", queue=False)

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.picker, *self.scales, self.text]

    def for_preset(self, preset: str) -> dict[gr.components.Component, Any]:
        """No adapter chosen, and those that fit the preset offered."""
        return {self.picker: gr.update(**_offer(preset), value=[]), **self._show([])}

    def fill(self, preset: str, choices: list) -> dict[gr.components.Component, Any]:
        """The form for a request's adapters (dicts or LoraChoice), on its preset."""
        chosen = [c if isinstance(c, LoraChoice) else LoraChoice(**c) for c in choices or []]
        offer = _offer(preset)
        # An adapter gone from the library still shows what was asked.
        offer["choices"] += [c.id for c in chosen if c.id not in offer["choices"]]
        return {self.picker: gr.update(**offer, value=[c.id for c in chosen]), **self._show(chosen)}

    def _show(self, chosen: list[LoraChoice]) -> dict[gr.components.Component, Any]:
        updates: dict[gr.components.Component, Any] = {
            slider: gr.update(visible=i < len(chosen), label=f"{chosen[i].id} scale" if i < len(chosen) else None,
                              value=chosen[i].scale if i < len(chosen) else 1.0)
            for i, slider in enumerate(self.scales)
        }
        updates[self.text] = ",".join(f"{c.id}:{c.scale:g}" for c in chosen)
        return updates


def _offer(preset: str) -> dict[str, Any]:
    """The picker's choices (the adapters that fit the preset) and the line under it: one read of the library."""
    family = get_preset("image", preset).family
    choices = [a.id for a in loras.list_adapters(family)]
    info = f"Up to {MAX_LORAS}, made for {family} models" if choices else (
        f"None in the library for {family} models yet: add one with `atelier loras add`")
    return {"choices": choices, "info": info}


def _parse(text: str | None) -> list[LoraChoice]:
    """The hidden text back as choices; what doesn't parse is simply forgotten (the schema judges on Generate)."""
    parsed = []
    for fields in loras_from_text(text or ""):
        try:
            parsed.append(LoraChoice(**fields))
        except ValueError:
            pass
    return parsed
