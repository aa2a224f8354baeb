"""The studio's music tab: a prompt, a length and a preset in, a playable clip out.

Clips longer than the model's window are made window by window (models/music/audio.py); the
progress bar covers the whole clip. Melody presets can follow an uploaded or recorded tune;
presets with MultiBand Diffusion can decode with it. Gradio API: `/generate_music` (prompt,
preset, duration, format, seed, random_seed, temperature, top_k, guidance, melody,
diffusion_decoder) → (clip, seed used, details).
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from models.common.events import Preview, ProgressEvent
from models.presets import MUSIC_PRESETS, get_preset
from models.requests import MusicRequest
from ui.gate import Gate
from ui.generation import Backend
from ui.store import ResultStore
from ui.studio.controls import SeedRow, examples, generate_buttons, overlay, slider, wire_generation
from ui.studio.run import inline_preview, media_files, run_with_previews, uploaded_bytes
from ui.studio.session import History
from ui.studio.share import ShareRow


def preset_choices() -> list[tuple[str, str]]:
    """Every music preset; AudioGen's are labelled, since picking one turns the tab into sound effects."""
    return [(f"{name} · sound effects" if p.sound_effects else name, name) for name, p in MUSIC_PRESETS.items()]


def describe(event: ProgressEvent) -> tuple[float, str]:
    """Music engines report milliseconds of audio made out of the clip's total."""
    done, total = event["done"], max(event["total"], 1)
    return done / total, f"{event['stage'].capitalize()}: {done / 1000:.1f} of {total / 1000:.0f} s"


def details(record: dict) -> str:
    p, audio = record["parameters"], record.get("audio", {})
    windows = audio.get("windows", 1)
    return (
        f"**{audio.get('seconds', p['duration']):g} s {p['format'].upper()}** · {p['preset']} · "
        f"{windows} window{'s' if windows > 1 else ''} · temperature {p['temperature']:g} · top-k {p['top_k']} · "
        f"guidance {p['guidance']:g} · seed `{record['seed']}` · {record['seconds']['generate']:.1f} s"
    )


def composed_so_far(preview: Preview) -> str:
    """The details line while a long clip is made: its waveform so far (models/music/waveform.py),
    inline, so the tab's outputs (and its gradio_client API) stay what they were."""
    return inline_preview(preview, "Composed so far", "The waveform of the clip so far")


@dataclass
class MusicTab:
    store: ResultStore
    default_preset: str
    prompt: gr.Textbox
    preset: gr.Dropdown
    duration: gr.Slider
    format: gr.Radio
    temperature: gr.Slider
    top_k: gr.Slider
    guidance: gr.Slider
    seed: SeedRow
    melody: gr.Audio
    diffusion_decoder: gr.Checkbox
    generate: gr.Button
    stop: gr.Button  # in Generate's place while a generation runs
    audio: gr.Audio
    details: gr.Markdown  # while a long clip is made window by window, its waveform so far
    share: ShareRow
    current: gr.State

    @classmethod
    def build(cls, backend: Backend, store: ResultStore, history: gr.State, strip: gr.HTML, gate: Gate) -> MusicTab:
        preset = get_preset("music", backend.defaults["music"])
        with gr.Row(equal_height=False, elem_classes="studio-row"):
            with gr.Column(scale=5, min_width=320, elem_classes="controls"):
                prompt = gr.Textbox(
                    label="Prompt", lines=3, max_lines=6, elem_id="music-prompt",
                    placeholder="Warm lo-fi hip hop with dusty piano chords and vinyl crackle, 80 bpm",
                )
                generate, stop = generate_buttons("music", "Generate music")
                with gr.Row():
                    preset_box = gr.Dropdown(choices=preset_choices(), value=preset.name, label="Model",
                                             info=preset.summary, scale=3, elem_id="music-preset")
                    fmt = gr.Radio(["wav", "mp3"], value=MusicRequest.model_fields["format"].default,
                                   label="Format", scale=2, elem_id="music-format")
                duration = slider(MusicRequest, "duration", MusicRequest.model_fields["duration"].default,
                                  label="Duration (seconds)", elem_id="music-duration",
                                  info="Longer than one model window? It is continued window by window.")
                seed = SeedRow.build("music")
                melody = gr.Audio(
                    label="Melody to follow (optional)", sources=["upload", "microphone"], type="filepath",
                    visible=preset.takes_melody, elem_id="music-melody",
                )
                diffusion_decoder = gr.Checkbox(
                    label="MultiBand Diffusion decoder", info="Cleaner audio, several times slower",
                    visible=preset.diffusion_decoder is not None, elem_id="music-diffusion",
                )
                with gr.Accordion("Advanced", open=False, elem_id="music-advanced"):
                    with gr.Row():
                        temperature = slider(MusicRequest, "temperature", preset.temperature, step=0.05,
                                             label="Temperature", elem_id="music-temperature")
                        top_k = slider(MusicRequest, "top_k", preset.top_k, label="Top-k", elem_id="music-top-k")
                        guidance = slider(MusicRequest, "guidance", preset.guidance, step=0.5, label="Guidance",
                                          elem_id="music-guidance")
                examples("music", prompt)
            with gr.Column(scale=6, min_width=320, elem_classes="output"):
                audio = gr.Audio(label="Clip", type="filepath", interactive=False, buttons=["download"],
                                    elem_id="music-audio")
                result_details = gr.Markdown(label="Details", elem_classes="details", elem_id="music-details")
                share = ShareRow.build("music")
        tab = cls(store, backend.defaults["music"], prompt, preset_box, duration, fmt, temperature, top_k, guidance, seed,
                  melody, diffusion_decoder, generate, stop, audio, result_details, share, gr.State(None))
        tab._wire(backend, store, history, strip, gate)
        return tab

    def _wire(self, backend: Backend, store: ResultStore, history: gr.State, strip: gr.HTML, gate: Gate) -> None:
        async def generate_music(
            prompt: str, preset: str | None, duration: float | None, format: str | None, seed: int | None,
            random_seed: bool, temperature: float | None, top_k: int | None, guidance: float | None,
            session: History, melody: dict | None = None, diffusion_decoder: bool | None = None,
            progress: gr.Progress = gr.Progress(),
        ):
            fields = dict(prompt=prompt, preset=preset, duration=duration, format=format,
                          seed=SeedRow.chosen(seed, random_seed), temperature=temperature, top_k=top_k,
                          guidance=guidance, melody=await uploaded_bytes(melody), diffusion_decoder=diffusion_decoder)
            async for preview, record in run_with_previews(backend, store, "music", fields, session, progress, describe,
                                                           gate=gate):
                if record is None:
                    yield {self.details: composed_so_far(preview)}
                else:
                    yield await self.show(record)

        wire_generation(
            self, generate_music,
            [self.prompt, self.preset, self.duration, self.format, self.seed.seed, self.seed.randomize,
             self.temperature, self.top_k, self.guidance, history, self.melody, self.diffusion_decoder],
            api_name="generate_music", progress_on=self.audio, store=store, history=history, strip=strip,
        )

    # --- filling the form (preset changes, history, remix links) ---------------------------

    @property
    def fill_outputs(self) -> list:
        return [self.prompt, self.preset, self.duration, self.format, self.temperature, self.top_k, self.guidance,
                self.seed.seed, self.seed.randomize, self.melody, self.diffusion_decoder]

    def preset_settings(self, name: str) -> dict:
        """A preset's defaults, and only the options its model has (a melody, a diffusion decoder)."""
        p = get_preset("music", name)
        return {
            self.preset: gr.update(value=p.name, info=p.summary),
            self.temperature: p.temperature,
            self.top_k: p.top_k,
            self.guidance: p.guidance,
            self.melody: gr.update(visible=p.takes_melody, value=None),
            self.diffusion_decoder: gr.update(visible=p.diffusion_decoder is not None, value=False),
        }

    def fill(self, values: dict) -> dict:
        """Set the form from request fields (a history entry's parameters, a remix link's query)."""
        fields = {"prompt": self.prompt, "duration": self.duration, "format": self.format,
                  "temperature": self.temperature, "top_k": self.top_k, "guidance": self.guidance,
                  "diffusion_decoder": self.diffusion_decoder}
        return overlay(self.preset_settings(values.get("preset") or self.default_preset), values, fields, self.seed)

    async def show(self, record: dict) -> dict:
        """Put a result on show: its clip, the seed it used, its details."""
        return {
            self.audio: (await media_files(self.store, record))[0],
            self.seed.seed: record["seed"],
            self.details: details(record),
            self.current: record["id"],
        }

    @property
    def show_outputs(self) -> list:
        return [self.audio, self.seed.seed, self.details, self.current]
