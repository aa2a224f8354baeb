"""What the studio's tabs share: sliders bounded by the request schemas, the seed row, the
example prompts, Generate with its Stop, and how a tab's Generate is wired.

Every bound a slider shows is read from the request schemas (models/image/request.py, models/music/request.py) or a preset, never written here
again: the schema stays the one place that says what a valid request is. The sliders only
guide a visitor; the schema still checks whatever arrives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import annotated_types
import gradio as gr
from pydantic import BaseModel

from models.common.fields import MAX_SEED
from models.requests import REQUESTS, parse
from ui.generation import Backend
from ui.settings import ASSETS


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    step: float | None  # the schema's multiple_of, if it has one
    low_exclusive: bool = False


def bounds(model: type[BaseModel], field: str) -> Bounds:
    """A numeric field's limits as the schema declares them."""
    low, high, step, exclusive = float("-inf"), float("inf"), None, False
    for rule in model.model_fields[field].metadata:
        match rule:
            case annotated_types.Ge(ge=v):
                low = v
            case annotated_types.Gt(gt=v):
                low, exclusive = v, True
            case annotated_types.Le(le=v):
                high = v
            case annotated_types.MultipleOf(multiple_of=v):
                step = v
    return Bounds(low, high, step, exclusive)


def slider(model: type[BaseModel], field: str, value: float, *, high: float | None = None, step: float = 1, **kwargs) -> gr.Slider:
    """A slider over a schema field's range, optionally capped lower (e.g. by a preset). An
    exclusive lower bound starts one step up, so the slider never offers a refused value."""
    b = bounds(model, field)
    step = b.step or step
    return gr.Slider(
        minimum=b.low + step if b.low_exclusive else b.low,
        maximum=min(b.high, high) if high is not None else b.high,
        value=value,
        step=step,
        **kwargs,
    )


@dataclass
class SeedRow:
    """The seed box and its "random" toggle. After a run the box shows the seed actually used,
    so unticking "random" reuses it."""

    seed: gr.Number
    randomize: gr.Checkbox

    @classmethod
    def build(cls, kind: str) -> SeedRow:
        with gr.Row(equal_height=True, elem_classes="seed-row"):
            seed = gr.Number(
                label="Seed", value=0, minimum=0, maximum=MAX_SEED, precision=0, scale=3, min_width=120,
                info="Same seed + same settings = same result", elem_id=f"{kind}-seed",
            )
            randomize = gr.Checkbox(label="Random seed", value=True, scale=1, min_width=110, elem_id=f"{kind}-random")
        # Typing a seed means "use this one".
        seed.input(lambda: False, None, randomize, queue=False, api_visibility="private", show_progress="hidden")
        return cls(seed, randomize)

    @staticmethod
    def chosen(seed: float | None, randomize: bool) -> int | None:
        """The seed for a request: None lets the backend draw one."""
        return None if randomize or seed is None else int(seed)


def overlay(settings: dict, values: dict, fields: dict[str, gr.components.Component], seed: SeedRow) -> dict:
    """A tab's form from request fields (a history entry's parameters, a remix link's query)
    laid over its preset's settings: a given value replaces a setting's value and keeps the
    rest of it (a maximum, a visibility); a given seed is used as is, not drawn at random."""
    updates = dict(settings)
    for name, component in fields.items():
        if values.get(name) is not None:
            setting = updates.get(component)
            updates[component] = {**setting, "value": values[name]} if isinstance(setting, dict) else values[name]
    if values.get("seed") is not None:
        updates[seed.seed] = values["seed"]
        updates[seed.randomize] = False
    return updates


def generate_buttons(kind: str, label: str) -> tuple[gr.Button, gr.Button]:
    """A tab's Generate, and its Stop, which stands in its place while a generation runs
    (`wire_generation` swaps them and wires Stop to cancel)."""
    generate = gr.Button(label, variant="primary", size="lg", elem_id=f"{kind}-generate")
    stop = gr.Button("Stop", variant="stop", size="lg", visible=False, elem_id=f"{kind}-stop")
    return generate, stop


def _running() -> tuple:
    return gr.update(visible=False), gr.update(visible=True)


def _idle() -> tuple:
    return gr.update(visible=True), gr.update(visible=False)


def checked_fields(backend: Backend, kind: str, query: dict[str, str]) -> dict:
    """The request fields a query string (or a dropped file's recipe) sets, checked by the
    request schema and the preset's limits exactly as a generation would be (other keys are
    ignored)."""
    given = {name: value for name, value in query.items() if name in REQUESTS[kind].model_fields}
    request = parse(kind, given)
    backend.resolve(request)
    return request.model_dump(exclude_unset=True)


def examples(kind: str, prompt: gr.Textbox) -> gr.Examples:
    """Example prompts from assets/examples.json (editable without touching code): a click
    puts one in the prompt box."""
    listed = json.loads((ASSETS / "examples.json").read_text())[kind]
    return gr.Examples(
        [[e["prompt"]] for e in listed], inputs=[prompt], example_labels=[e["label"] for e in listed],
        label="Try one", examples_per_page=len(listed), api_visibility="private", elem_id=f"{kind}-examples",
    )


def wire_generation(tab, handler, inputs: list, *, api_name: str, progress_on, store, history: gr.State,
                    strip: gr.HTML) -> None:
    """The one way a tab's Generate runs, for every tab (`tab` has generate, stop, prompt, share...).

    No per-event concurrency limit: the web side only awaits the backend, so every visitor's
    request goes out at once (page.py bounds the total). Raw values (preprocess=False): the
    request schema alone judges them, naming the field at fault, where Gradio's own checks
    would say "Value 50 is greater than maximum value 10". While it runs, Stop stands in for
    Generate: pressed, Gradio cancels the event (`cancels=`: its task is cancelled, which stops
    the model's work, ui/generation/backend.py). Then the history strip and Share catch up, and
    the model choice keeps the form to what that model uses.
    """
    buttons = [tab.generate, tab.stop]
    running = gr.on([tab.generate.click, tab.prompt.submit], _running, None, buttons, queue=False,
                    api_visibility="private", show_progress="hidden")
    run = running.then(
        handler,
        inputs=inputs,
        outputs=tab.show_outputs,
        api_name=api_name,
        concurrency_limit=None,
        preprocess=False,
        show_progress_on=[progress_on],
    )
    run.success(tab.share.after_result, history, [strip, *tab.share.outputs], api_visibility="private",
                show_progress="hidden")
    for ended in (run.then, run.failure):  # Gradio's `then` does not follow an event that raised
        ended(_idle, None, buttons, queue=False, api_visibility="private", show_progress="hidden")
    tab.stop.click(_idle, None, buttons, cancels=[run], queue=False, api_visibility="private", show_progress="hidden")
    tab.share.wire(store, history, tab.current, strip)
    tab.preset.input(tab.preset_settings, tab.preset, tab.fill_outputs, api_visibility="private",
                     show_progress="hidden")
