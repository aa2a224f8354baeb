"""Models with random weights, built offline: noise at a model's real shape, for tests and benchmarks.

    tiny_image.py        `tiny` (Stable Diffusion) and `tiny-sd3` pipelines, a few MB
    tiny_music.py        `tiny` (MusicGen) and `tiny-melody` (MusicGen Melody)
    tiny_audiocraft.py   audiocraft's tiny MusicGen, AudioGen and MultiBand Diffusion
    tiny_lora.py         random LoRA adapters for the tiny families
    tiny_video.py        `tiny-video` (LTX-Video's architecture), and a single-file checkpoint of it
    twins.py             what a real-size twin is: the real parameter counts, how one is drawn and saved
    image_twins.py       twins of sd-turbo, sdxl-turbo, TAESD, SD3.5 Large Turbo, FLUX.1 [schnell]
    music_twins.py       the twin of musicgen-small
    video_twins.py       the twin of ltx-video (LTX-Video 2B), and its stand-in with a small text encoder
    tiny_guides.py       ControlNets, IP-Adapters and annotators for the tiny presets; SD 2.1's ControlNet
                         and the annotators at real size, for the sd-turbo twin's benchmark
    guide_twins.py       every guide model's architecture at its real size, counted on the meta device
    parts.py             what the builders share: the seed, tokenizers that need no download

No serving path imports these: a preset names its builder as a BuiltWeights "module:function",
and models/common/weights.py imports it only to build a folder once. Tests and benchmarks may
import them directly.
"""
