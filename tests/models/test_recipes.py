"""Recipes inside the files, read back by other tools' readers: Pillow for PNG text chunks,
mutagen for ID3 tags and RIFF INFO chunks, and soundfile (libsndfile) for the audio itself."""

from __future__ import annotations

import io

import mutagen.id3
import mutagen.mp3
import mutagen.wave
import numpy as np
import soundfile
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from models.common.recipes import parse_a1111, recipe_from_png, recipe_text
from models.requests import ImageRequest, MusicRequest


def generate(model_classes, kind: str, request) -> dict:
    job = request.resolve("tiny")
    *_, result = model_classes[kind](preset=job.preset).generate.local(job)
    return result


def test_a_png_carries_its_recipe_for_other_tools_and_for_the_studio(model_classes):
    request = ImageRequest(prompt="a lighthouse at dusk, “oil” on canvas", negative_prompt="blurry", seed=42,
                           steps=3, guidance=2.5, width=64, height=96)
    result = generate(model_classes, "image", request)
    data = result["files"][0]["data"]
    with Image.open(io.BytesIO(data)) as image:  # another reader: Pillow
        text = image.text
    assert text["parameters"] == (
        "a lighthouse at dusk, “oil” on canvas\nNegative prompt: blurry\n"
        "Steps: 3, CFG scale: 2.5, Seed: 42, Size: 64x96, Model: tiny, Version: Atelier"
    )
    restored = recipe_from_png(data)
    expected = {k: v for k, v in result["record"]["parameters"].items()}
    assert restored == expected  # the exact request: prompt, negative prompt, seed, steps, guidance, size, preset
    assert ImageRequest(**{k: v for k, v in restored.items() if k in ImageRequest.model_fields}).resolve("tiny").seed == 42


def test_a1111_text_alone_gives_back_the_settings_it_names():
    text = "a fox in the snow\nNegative prompt: text, watermark\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x768, Model: sd15"
    assert parse_a1111(text) == {"prompt": "a fox in the snow", "negative_prompt": "text, watermark", "steps": 4,
                                 "guidance": 7.0, "seed": 1234, "width": 512, "height": 768}
    assert parse_a1111("just a prompt") == {"prompt": "just a prompt"}


def test_no_recipe_in_a_png_without_one_or_in_something_else():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    assert recipe_from_png(buf.getvalue()) is None
    assert recipe_from_png(b"not an image at all") is None


def test_a_wav_carries_its_recipe_in_riff_info(model_classes):
    result = generate(model_classes, "music", MusicRequest(prompt="warm lofi piano", duration=1, seed=7))
    data = result["files"][0]["data"]
    with soundfile.SoundFile(io.BytesIO(data)) as f:  # another reader: libsndfile reads RIFF INFO
        metadata = f.copy_metadata()
    assert metadata["title"] == "warm lofi piano"
    assert metadata["comment"] == recipe_text(result["record"]["parameters"]) and "seed: 7" in metadata["comment"]
    assert metadata["software"] == "Atelier"
    assert mutagen.wave.WAVE(io.BytesIO(data)).info.length > 0.9  # and mutagen's RIFF parser accepts the file
    audio, rate = soundfile.read(io.BytesIO(data))  # and the audio still reads as before
    assert len(audio) == round(result["record"]["audio"]["seconds"] * rate) and np.abs(audio).max() > 0


def test_an_mp3_carries_its_recipe_in_id3(model_classes):
    result = generate(model_classes, "music", MusicRequest(prompt="slow jazz trio", duration=1, seed=9, format="mp3"))
    data = result["files"][0]["data"]
    tags = mutagen.id3.ID3(io.BytesIO(data))
    assert str(tags["TIT2"]) == "slow jazz trio"
    comment = tags.getall("COMM")[0].text[0]
    assert comment == recipe_text(result["record"]["parameters"]) and "seed: 9" in comment
    assert str(tags["TSSE"]) == "Atelier"
    assert mutagen.mp3.MP3(io.BytesIO(data)).info.length > 0.5  # the frames after the tag still decode


def test_controlnet_units_read_back_from_ours_and_from_sd_webui_controlnets():
    from models.common.recipes import control_units, png_bytes

    ours = png_bytes(Image.new("RGB", (8, 8)), {
        "prompt": "a fox", "steps": 2, "guidance": 0.0, "seed": 1, "width": 8, "height": 8, "preset": "tiny",
        "controls": [{"mode": "canny", "scale": 0.8, "start": 0.0, "end": 0.5, "preprocess": True, "image_sha256": "ab" * 32},
                     {"mode": "lines", "scale": 1.0, "start": 0.2, "end": 1.0, "preprocess": False, "image_sha256": "cd" * 32}]})
    assert control_units(ours) == [
        {"module": "canny", "model": "canny", "scale": 0.8, "start": 0.0, "end": 0.5, "image_hash": "ab" * 8},
        {"module": "none", "model": "lines", "scale": 1.0, "start": 0.2, "end": 1.0, "image_hash": "cd" * 8}]
    info = PngInfo()
    info.add_text("parameters", 'a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, '
                  'ControlNet 0: "Module: openpose_full, Model: control_v11p_sd15_openpose [cab727d4], Weight: 1, '
                  'Resize Mode: Crop and Resize, Guidance Start: 0, Guidance End: 1, Pixel Perfect: False", Version: v1.6')
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG", pnginfo=info)
    assert control_units(buf.getvalue()) == [{"module": "openpose_full", "model": "control_v11p_sd15_openpose [cab727d4]",
                                              "scale": 1.0, "start": 0.0, "end": 1.0, "image_hash": ""}]
    assert control_units(b"not a png") == [] and recipe_from_png(buf.getvalue())["seed"] == 5  # the rest reads as before


def test_reference_images_are_ip_adapter_units_after_the_controls_and_read_back_apart_from_them():
    from models.common.recipes import control_units, png_bytes, reference_units

    parameters = {"prompt": "a fox", "steps": 2, "guidance": 0.0, "seed": 1, "width": 8, "height": 8, "preset": "tiny",
                  "controls": [{"mode": "canny", "scale": 0.8, "start": 0.0, "end": 0.5, "preprocess": True,
                                "image_sha256": "ab" * 32}],
                  "references": [{"scale": 0.6, "image_sha256": "ef" * 32}, {"scale": 1.25, "image_sha256": "01" * 32}]}
    ours = png_bytes(Image.new("RGB", (8, 8)), parameters)
    assert ('ControlNet 1: "Module: ip-adapter, Model: ip-adapter, Weight: 0.6, Guidance Start: 0, Guidance End: 1, '
            f'Image hash: {"ef" * 8}"') in recipe_text(parameters)
    assert reference_units(ours) == [{"scale": 0.6, "image_hash": "ef" * 8}, {"scale": 1.25, "image_hash": "01" * 8}]
    assert [unit["model"] for unit in control_units(ours)] == ["canny"]  # a reference is no control
    assert "references" not in recipe_from_png(ours)  # not request fields: by hash in the text only
    info = PngInfo()  # sd-webui-controlnet's own IP-Adapter unit
    info.add_text("parameters", 'a cat\nSteps: 20, CFG scale: 7, Seed: 5, Size: 512x512, ControlNet 0: "Module: '
                  'ip-adapter_clip_sd15, Model: ip-adapter_sd15 [6a3f6166], Weight: 0.7, Resize Mode: Crop and Resize, '
                  'Guidance Start: 0, Guidance End: 1", Version: v1.6')
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG", pnginfo=info)
    assert reference_units(buf.getvalue()) == [{"scale": 0.7, "image_hash": ""}] and control_units(buf.getvalue()) == []
