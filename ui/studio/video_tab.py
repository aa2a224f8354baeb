"""The studio's video tab: a prompt, a length, a shape and (optionally) a start picture in, a
playable clip out.

A clip is made in three stages, each on the progress bar: the denoising steps, the VAE's
decode part by part, the MP4's encode. While it denoises, the clip's middle frame as it forms
(models/video/previews.py) shows on the details line. A start picture comes from an upload,
from the Image tab's "Animate" under its result, or from a share page's "Animate" link; without
a size of its own the clip takes the picture's shape. Gradio API: `/generate_video` (prompt,
negative_prompt, preset, duration, width, height, steps, guidance, fps, seed, random_seed,
image) → (clip, seed used, details).
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache

from models.common.errors import RequestError
from models.common.events import ProgressEvent
from models.presets import VIDEO_PRESETS, VideoPreset, get_preset
from models.requests import VideoRequest
from models.video.request import ASPECTS, size_at_ratio
from ui.gate import Gate
from ui.generation import Backend, result_image
from ui.store import ResultStore
from ui.studio.controls import SeedRow, examples, generate_buttons, overlay, slider, wire_generation
from ui.studio.run import GRADIO_CACHE, inline_preview, media_files, run_with_previews, uploaded_bytes
from ui.studio.session import History
from ui.studio.share import ShareRow


def describe(event: ProgressEvent) -> tuple[tuple[int, int], str]:
    return (event["done"], event["total"]), event["stage"].capitalize()


def details(record: dict) -> str:
    p = record["parameters"]
    return (
        f"**{record['duration']:.1f} s video** · {p['preset']} · {p['width']}×{p['height']} · {p['frames']} frames at "
        f"{p['fps']} fps · {p['steps']} step{'s' if p['steps'] > 1 else ''} · guidance {p['guidance']:g} · "
        f"seed `{record['seed']}` · {record['seconds']['generate']:.1f} s"
        + (" · from a start picture" if record.get("input") else "")
    )


def aspect_of(width: int, height: int) -> str | None:
    return next((name for name, (w, h) in ASPECTS.items() if abs(width / height - w / h) < 0.02), None)


@dataclass
class VideoTab:
    store: ResultStore
    default_preset: str
    prompt: gr.Textbox
    preset: gr.Dropdown
    duration: gr.Slider
    aspect: gr.Radio
    seed: SeedRow
    image: gr.Image  # a start picture; its raw upload goes to the request schema
    negative_prompt: gr.Textbox
    width: gr.Slider
    height: gr.Slider
    steps: gr.Slider
    guidance: gr.Slider
    fps: gr.Slider
    generate: gr.Button
    stop: gr.Button  # in Generate's place while a generation runs
    video: gr.Video
    details: gr.Markdown  # while the clip denoises, its middle frame so far
    share: ShareRow
    current: gr.State

    @classmethod
    def build(cls, backend: Backend, store: ResultStore, history: gr.State, strip: gr.HTML, gate: Gate) -> VideoTab:
        preset = get_preset("video", backend.defaults["video"])
        with gr.Row(equal_height=False, elem_classes="studio-row"):
            with gr.Column(scale=5, min_width=320, elem_classes="controls"):
                prompt = gr.Textbox(label="Prompt", lines=3, max_lines=6, elem_id="video-prompt",
                                    placeholder="A paper boat drifting down a rain-soaked street, golden hour")
                generate, stop = generate_buttons("video", "Generate video")
                with gr.Row():
                    preset_box = gr.Dropdown(choices=list(VIDEO_PRESETS), value=preset.name, label="Model",
                                             info=preset.summary, scale=3, elem_id="video-preset")
                    duration = slider(VideoRequest, "duration", round(preset.frames / preset.fps, 1), step=0.1,
                                      high=preset.max_frames / preset.fps, label="Duration (seconds)", scale=3,
                                      elem_id="video-duration")
                aspect = gr.Radio(list(ASPECTS), value=aspect_of(preset.width, preset.height), label="Aspect",
                                  elem_classes="aspect", elem_id="video-aspect")
                seed = SeedRow.build("video")
                image = gr.Image(label="Start picture (optional): the clip begins with it", type="filepath",
                                 sources=["upload", "clipboard"], height=220, visible=preset.takes_image,
                                 elem_id="video-image")
                advanced = _advanced(preset)
                examples("video", prompt)
            with gr.Column(scale=6, min_width=320, elem_classes="output"):
                video = gr.Video(label="Clip", interactive=False, loop=True, buttons=["download"],
                                 elem_id="video-player")
                result_details = gr.Markdown(label="Details", elem_classes="details", elem_id="video-details")
                share = ShareRow.build("video")
        tab = cls(store, backend.defaults["video"], prompt, preset_box, duration, aspect, seed, image, *advanced,
                  generate, stop, video, result_details, share, gr.State(None))
        tab._wire(backend, store, history, strip, gate)
        return tab

    def _wire(self, backend: Backend, store: ResultStore, history: gr.State, strip: gr.HTML, gate: Gate) -> None:
        async def generate_video(
            prompt: str, negative_prompt: str | None, preset: str | None, duration: float | None, width: int | None,
            height: int | None, steps: int | None, guidance: float | None, fps: int | None, seed: int | None,
            random_seed: bool, session: History, image: dict | None = None, progress: gr.Progress = gr.Progress(),
        ):
            fields = dict(prompt=prompt, negative_prompt=negative_prompt, preset=preset, duration=duration,
                          width=width, height=height, steps=steps, guidance=guidance, fps=fps,
                          seed=SeedRow.chosen(seed, random_seed), image=await uploaded_bytes(image))
            if fields["image"] is not None:  # the picture's shape rules (the sizes are for a clip from words)
                fields |= {"width": None, "height": None}
            async for preview, record in run_with_previews(backend, store, "video", fields, session, progress, describe,
                                                           gate=gate):
                if record is None:
                    yield {self.details: inline_preview(preview, "Forming", "The clip's middle frame so far")}
                else:
                    yield await self.show(record)

        # The bar goes on the details line, where the forming frame shows: over the player it would hide it.
        wire_generation(
            self, generate_video,
            [self.prompt, self.negative_prompt, self.preset, self.duration, self.width, self.height, self.steps,
             self.guidance, self.fps, self.seed.seed, self.seed.randomize, history, self.image],
            api_name="generate_video", progress_on=self.details, store=store, history=history, strip=strip,
        )
        self.aspect.input(self._resize, [self.aspect, self.preset], [self.width, self.height],
                          api_visibility="private", show_progress="hidden")

    def input_from_result(self, result_id: str | None) -> dict:
        """A saved image result's picture as the start picture ("Animate")."""
        if not result_id:
            raise gr.Error("Make or pick an image first: it becomes the clip's first frame.", print_exception=False)
        try:
            data = result_image(self.store, result_id)
        except RequestError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return {self.image: save_bytes_to_cache(data, "start.png", GRADIO_CACHE)}

    def animates(self, button: gr.Button, result_id: gr.State, prompt: gr.Textbox, tabs: gr.Tabs) -> None:
        """Wire another tab's "Animate": its result on show becomes this tab's start picture, with its prompt."""
        def animate(shown: str | None, words: str) -> dict:
            return {tabs: gr.Tabs(selected="video"), self.prompt: words, **self.input_from_result(shown)}

        button.click(animate, [result_id, prompt], [tabs, self.prompt, self.image], api_visibility="private",
                     show_progress="hidden")

    # --- filling the form (preset changes, history, remix links) ---------------------------

    @property
    def fill_outputs(self) -> list:
        return [self.prompt, self.preset, self.duration, self.aspect, self.seed.seed, self.seed.randomize, self.image,
                self.negative_prompt, self.width, self.height, self.steps, self.guidance, self.fps]

    def preset_settings(self, name: str) -> dict:
        """A preset's defaults and limits: its clip length, size grid, steps, and whether it takes a picture."""
        p = get_preset("video", name)
        return {
            self.preset: gr.update(value=p.name, info=p.summary),
            self.duration: gr.update(value=round(p.frames / p.fps, 1), maximum=p.max_frames / p.fps),
            self.aspect: aspect_of(p.width, p.height),
            self.width: gr.update(value=p.width, **side_range(p)),
            self.height: gr.update(value=p.height, **side_range(p)),
            self.steps: gr.update(value=p.steps, maximum=p.max_steps),
            self.guidance: p.guidance,
            self.fps: p.fps,
            self.image: gr.update(visible=p.takes_image, value=None),
        }

    def fill(self, values: dict) -> dict:
        """Set the form from request fields (a history entry's parameters, a remix link's query)."""
        values = dict(values)
        if values.get("frames") and values.get("duration") is None:  # a record's exact length, as seconds
            fps = values.get("fps") or get_preset("video", values.get("preset") or self.default_preset).fps
            values["duration"] = round(values["frames"] / fps, 2)
        fields = {"prompt": self.prompt, "negative_prompt": self.negative_prompt, "duration": self.duration,
                  "width": self.width, "height": self.height, "steps": self.steps, "guidance": self.guidance,
                  "fps": self.fps, "aspect": self.aspect}
        updates = overlay(self.preset_settings(values.get("preset") or self.default_preset), values, fields, self.seed)
        if values.get("width") and values.get("height"):
            updates[self.aspect] = aspect_of(values["width"], values["height"])
        return updates

    async def show(self, record: dict) -> dict:
        """Put a result on show: its clip, the seed it used, its details."""
        clip = next(path for path, f in zip(await media_files(self.store, record), record["files"])
                    if f["mime"].startswith("video/"))
        return {self.video: clip, self.seed.seed: record["seed"], self.details: details(record),
                self.current: record["id"]}

    @property
    def show_outputs(self) -> list:
        return [self.video, self.seed.seed, self.details, self.current]

    def _resize(self, aspect: str, preset: str) -> tuple[int, int]:
        w, h = ASPECTS[aspect]
        return size_at_ratio(w / h, get_preset("video", preset))


def side_range(preset: VideoPreset) -> dict:
    """A width or height slider's range: only sizes on the preset's grid (the schema's own floor of
    16 px would put every step off a grid of 32)."""
    return {"minimum": preset.size_grid, "maximum": preset.max_side, "step": preset.size_grid}


def _advanced(preset: VideoPreset) -> tuple:
    """The Advanced accordion: what to keep out, the size on the preset's grid, steps, guidance, rate."""
    with gr.Accordion("Advanced", open=False, elem_id="video-advanced"):
        negative_prompt = gr.Textbox("", label="Negative prompt (acts with guidance above 1)", lines=1,
                                     elem_id="video-negative")
        with gr.Row():
            width = gr.Slider(**side_range(preset), value=preset.width, label="Width", elem_id="video-width")
            height = gr.Slider(**side_range(preset), value=preset.height, label="Height", elem_id="video-height")
        with gr.Row():
            steps = slider(VideoRequest, "steps", preset.steps, high=preset.max_steps, label="Steps",
                           elem_id="video-steps")
            guidance = slider(VideoRequest, "guidance", preset.guidance, step=0.5, label="Guidance",
                              elem_id="video-guidance")
            fps = slider(VideoRequest, "fps", preset.fps, label="Frames per second", elem_id="video-fps")
    return negative_prompt, width, height, steps, guidance, fps
