"""The Train tab: a LoRA adapter from a few pictures (models/training/), the studio's third kind of work.

Pictures (with a note on duplicates and pictures too small to train on), the trigger phrase, the
model whose family to train, steps (goal, rank and learning rate under Advanced). *Start training*
runs it through ui.generation.generate, as every generation runs, and the tab shows the loss as a
curve, the step and time left, and each sample picture as it comes; *Stop* cancels it (the model
stops at its next step and keeps nothing). When done the adapter is in the library: the Image tab's
LoRA picker offers it, and *Use it* (wired by page.py) opens the Image tab with the adapter picked
and the trigger phrase as the prompt.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from models.common.errors import RequestError
from models.common.events import ProgressEvent
from models.presets import get_preset
from models.training.families import trainable_presets
from models.training.request import (
    DEFAULT_RESOLUTION,
    MAX_PICTURES,
    MIN_PICTURES,
    RECIPES,
    TrainingJob,
    TrainingRequest,
)
from ui.errors import ApiError, GenerationError
from ui.gate import Gate, Ticket
from ui.generation import Backend, adapter_use, checked_training, generate
from ui.store import ResultStore
from ui.studio.controls import slider
from ui.studio.image_tab import ImageTab
from ui.studio.run import admit, as_gradio_error, cached_preview, media_files, visitor_here, waiting_message


@dataclass
class TrainTab:
    pictures: gr.File
    notes: gr.Markdown
    trigger: gr.Textbox
    preset: gr.Dropdown
    steps: gr.Slider
    goal: gr.Radio
    rank: gr.Slider
    learning_rate: gr.Number
    start: gr.Button
    stop: gr.Button
    status: gr.Markdown
    loss: gr.LinePlot
    sample: gr.Image
    use_it: gr.Button
    trained: gr.State  # the image request fields that use the adapter just made

    @classmethod
    def build(cls, backend: Backend, store: ResultStore, gate: Gate) -> TrainTab:
        presets = trainable_presets()
        default = backend.defaults["image"] if backend.defaults["image"] in presets else presets[0]
        with gr.Row(equal_height=False, elem_classes="studio-row"):
            with gr.Column(scale=5, min_width=320, elem_classes="controls"):
                pictures = gr.File(label=f"{MIN_PICTURES} to {MAX_PICTURES} pictures (PNG, JPEG, WebP)",
                                   file_count="multiple", file_types=["image"], type="filepath", elem_id="train-pictures")
                notes = gr.Markdown(elem_id="train-notes")
                trigger = gr.Textbox(label="Trigger phrase", placeholder="a photo of qwerty the dog", max_lines=1,
                                     info="The words that call the subject or style up in a prompt later.",
                                     elem_id="train-trigger")
                with gr.Row():
                    preset = gr.Dropdown(presets, value=default, label="Model", scale=3, elem_id="train-preset")
                    steps = slider(TrainingRequest, "steps", RECIPES["subject"]["steps"], high=2000, label="Steps",
                                   scale=2, elem_id="train-steps")
                with gr.Accordion("Advanced", open=False):
                    goal = gr.Radio(["subject", "style"], value="subject", label="What the pictures share",
                                    elem_id="train-goal")
                    rank = slider(TrainingRequest, "rank", RECIPES["subject"]["rank"], label="Rank", elem_id="train-rank")
                    learning_rate = gr.Number(RECIPES["subject"]["learning_rate"], label="Learning rate",
                                              elem_id="train-lr")
                with gr.Row():
                    start = gr.Button("Start training", variant="primary", size="lg", elem_id="train-start")
                    stop = gr.Button("Stop", variant="stop", size="lg", elem_id="train-stop")
            with gr.Column(scale=6, min_width=320, elem_classes="output"):
                status = gr.Markdown(elem_id="train-status")
                loss = gr.LinePlot(pd.DataFrame({"step": [], "loss": []}), x="step", y="loss", label="Loss",
                                   height=220, elem_id="train-loss")
                sample = gr.Image(label="Sample with the adapter so far", interactive=False, height=320,
                                  elem_id="train-sample")
                use_it = gr.Button("Use it in the Image tab", visible=False, elem_id="train-use-it")
        tab = cls(pictures, notes, trigger, preset, steps, goal, rank, learning_rate, start, stop, status, loss,
                  sample, use_it, gr.State(None))
        tab._wire(backend, store, gate)
        return tab

    def _wire(self, backend: Backend, store: ResultStore, gate: Gate) -> None:
        started = self.start.click(
            self._trainer(backend, store, gate),
            [self.pictures, self.trigger, self.preset, self.steps, self.goal, self.rank, self.learning_rate],
            [self.status, self.loss, self.sample, self.use_it, self.trained],
            api_visibility="private", concurrency_limit=None, show_progress="hidden",
        )
        # Cancelling the event closes its stream of events: the backend then asks the model to stop.
        self.stop.click(lambda: "Stopped: nothing was kept.", None, self.status, cancels=[started],
                        api_visibility="private", queue=False)
        gr.on([self.pictures.change, self.preset.change], lambda paths, preset: picture_notes(paths or [], preset),
              [self.pictures, self.preset], self.notes, api_visibility="private", show_progress="hidden")

    def opens_results_in(self, tabs: gr.Tabs, image: ImageTab) -> None:
        """*Use it*: the Image tab, the adapter just made picked and its trigger phrase as the prompt."""
        self.use_it.click(lambda values: {tabs: gr.Tabs(selected="image"), **image.fill(values)}, self.trained,
                          [tabs, *image.fill_outputs], api_visibility="private", show_progress="hidden")

    def _trainer(self, backend: Backend, store: ResultStore, gate: Gate):
        async def train(paths, trigger, preset, steps, goal, rank, learning_rate):
            visitor = visitor_here(gate)
            try:  # who may train here: the REST API's rule (ui/gate/trainings.py)
                gate.trainings.closed(visitor, backend.where, "studio")
            except ApiError as e:
                raise as_gradio_error(e) from None
            pictures = await asyncio.to_thread(lambda: [Path(p).read_bytes() for p in paths or []])
            fields = {"images": pictures, "trigger": trigger or "", "preset": preset, "steps": steps, "goal": goal,
                      "rank": rank, "learning_rate": learning_rate}
            try:
                job = await checked_training(backend, store, {k: v for k, v in fields.items() if v is not None})
            except RequestError as e:
                raise gr.Error(str(e), title="Please check the training", print_exception=False) from None
            try:  # after the checks, so a refused request spends nothing; as many at once as over REST
                gate.trainings.check_room(visitor)
            except ApiError as e:
                raise as_gradio_error(e) from None
            ticket = admit(gate, visitor)
            with gate.trainings.held_while(visitor, "one in the studio's Train tab"):
                async for update in self._run(backend, store, job, ticket):
                    yield update

        return train

    async def _run(self, backend: Backend, store: ResultStore, job: TrainingJob, ticket: Ticket):
        """The training's events as the tab's updates."""
        losses: list[tuple[int, float]] = []
        yield {self.status: "Starting…", self.loss: _curve(losses), self.sample: None,
               self.use_it: gr.update(visible=False), self.trained: None}
        try:
            async for event in generate(backend, store, job, ticket):
                if event["type"] == "queued":
                    yield {self.status: waiting_message(event.get("position"))}
                elif event["type"] == "progress":
                    yield await self._progress(event, losses)
                elif event["type"] == "saved":
                    yield await self._finished(store, event["record"])
        except GenerationError as e:
            raise gr.Error(str(e), title="The training couldn't finish", print_exception=False) from None

    async def _progress(self, event: ProgressEvent, losses: list[tuple[int, float]]) -> dict:
        updates: dict = {self.status: describe(event)}
        if "loss" in event:
            losses.append((event["done"], event["loss"]))
            updates[self.loss] = _curve(losses)
        if preview := event.get("preview"):
            updates[self.sample] = await asyncio.to_thread(cached_preview, preview)
        return updates

    async def _finished(self, store: ResultStore, record: dict) -> dict:
        adapter = record["adapter"]
        return {self.status: f"Done: **{adapter['id']}** is in the library (rank {adapter['rank']}, "
                             f"{adapter['size'] / 2**20:.1f} MB). Call it up with “{adapter['trigger']}”.",
                self.sample: (await media_files(store, record))[0], self.use_it: gr.update(visible=True),
                self.trained: adapter_use(record)}


def describe(event: ProgressEvent) -> str:
    """A training's progress in words: the stage, and on a step its loss and time left."""
    if event["stage"] != "training":
        return f"{event['stage'].capitalize()}: {event['done']} of {event['total']}"
    text = f"Step {event['done']} of {event['total']} · loss {event.get('loss', 0):.4f}"
    if (left := event.get("eta_s")) is not None:
        text += f" · about {left:.0f} s left"
    if estimate := event.get("estimate"):
        text += f"\n\nIn all about {estimate['seconds']:.0f} s: {estimate['basis']}."
    return text


def _curve(losses: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame(losses, columns=["step", "loss"])


def picture_notes(paths: list[str], preset: str) -> str:
    """What to know about the pictures before training: how many, duplicates, and those too small
    for the preset (the request refuses a picture under half the training resolution on its shorter side)."""
    from PIL import Image

    smallest = min(DEFAULT_RESOLUTION, get_preset("image", preset).size) // 2
    seen: dict[str, str] = {}
    notes = [f"{len(paths)} picture{'s' if len(paths) != 1 else ''}" +
             (f" (at least {MIN_PICTURES} are needed)" if len(paths) < MIN_PICTURES else "")]
    for path in paths:
        name = Path(path).name
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if digest in seen:
            notes.append(f"{name} is the same picture as {seen[digest]}")
            continue
        seen[digest] = name
        try:
            with Image.open(path) as image:
                if min(image.size) < smallest:
                    notes.append(f"{name} is too small for {preset} ({image.width}×{image.height}): it needs at "
                                 f"least {smallest} px on the shorter side")
        except OSError:
            notes.append(f"{name} can't be read as a picture")
    return "\n".join(f"- {note}" for note in notes)
