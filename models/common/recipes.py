"""Recipes inside the files: every image and clip carries how it was made.

- PNG: a `parameters` text chunk in the form AUTOMATIC1111 writes and ComfyUI, InvokeAI and
  image viewers read, plus an `atelier` chunk with the exact request as JSON (what the studio
  restores from a dropped PNG: the A1111 text is for other tools and people).

      a lighthouse at dusk
      Negative prompt: blurry
      Steps: 2, CFG scale: 0, Seed: 42, Size: 512x512, Model: sd-turbo, Version: Atelier

  Controls go where sd-webui-controlnet writes them, one quoted unit each before the version:
  `ControlNet 0: "Module: canny, Model: canny, Weight: 0.8, Guidance Start: 0, Guidance End: 1,
  Image hash: 1a2b…"` (Module "none" for a picture sent ready-made). Reference images follow as
  the units sd-webui-controlnet writes for an IP-Adapter: `ControlNet 1: "Module: ip-adapter, Model:
  ip-adapter, Weight: 0.6, …, Image hash: 3c4d…"`. They are not request fields: the JSON recipe
  leaves them out, as it leaves out the pictures; `control_units` and `reference_units` read them
  back (ours, or sd-webui-controlnet's, which name a model file rather than a mode and carry no hash).

- WAV: a RIFF LIST/INFO chunk (INAM title = the prompt, ICMT comment = the recipe, ISFT software).
- MP3: an ID3v2.3 tag (TIT2 title, COMM comment, TSSE software) in front of the frames.
- MP4: metadata keys (`title` = the prompt, `comment` = the recipe in A1111's form with the
  clip's frames and rate, `atelier` = the request as JSON), as `ffprobe -show_format` lists them.

Only request fields go in (never an owner token, never a server path). Plain Python and
Pillow: the web side reads recipes too.
"""

from __future__ import annotations

import io
import json
import re
import struct

SOFTWARE = "Atelier"
RECIPE_KEY = "atelier"  # the PNG chunk with the request as JSON
A1111_KEY = "parameters"


# --- the text ---------------------------------------------------------------------------------


def recipe_text(parameters: dict) -> str:
    """The A1111-style recipe of an image or video request, or a one-line recipe of a music request."""
    if "width" in parameters:  # an image or a clip
        lines = [parameters.get("prompt", "") + lora_tags(parameters.get("loras") or [])]
        if parameters.get("negative_prompt"):
            lines.append(f"Negative prompt: {parameters['negative_prompt']}")
        clip = f"Frames: {parameters['frames']}, FPS: {parameters.get('fps')}, " if "frames" in parameters else ""
        lines.append(
            clip + f"Steps: {parameters.get('steps')}, CFG scale: {parameters.get('guidance'):g}, Seed: {parameters.get('seed')}, "
            f"Size: {parameters.get('width')}x{parameters.get('height')}, Model: {parameters.get('preset')}, "
            + (f"Denoising strength: {parameters['strength']:g}, " if parameters.get("strength") is not None else "")
            + "".join(f"{unit}, " for unit in guide_units(parameters))
            + f"Version: {SOFTWARE}"
        )
        return "\n".join(lines)
    settings = ", ".join(f"{name}: {parameters[name]}" for name in
                         ("duration", "temperature", "top_k", "guidance", "seed", "preset", "format") if name in parameters)
    return f"{parameters.get('prompt', '')}\n{settings}, Version: {SOFTWARE}"


def request_fields(parameters: dict) -> dict:
    """What goes into the JSON recipe: the request's own fields, nothing bulky (a melody is not)."""
    fields = {k: v for k, v in parameters.items() if isinstance(v, (str, int, float, bool)) or v is None}
    if isinstance(parameters.get("loras"), list):  # a short list of {id, scale}: the request's own
        fields["loras"] = [{"id": c["id"], "scale": c["scale"]} for c in parameters["loras"]]
    return fields


IP_ADAPTER = "ip-adapter"  # the Module and Model of a reference's unit (sd-webui-controlnet's names start so)


def guide_units(parameters: dict) -> list[str]:
    """The controls, then the references, as sd-webui-controlnet's `ControlNet N: "..."` units."""
    controls, references = parameters.get("controls") or [], parameters.get("references") or []
    return ([control_unit(i, c) for i, c in enumerate(controls)]
            + [reference_unit(len(controls) + i, r) for i, r in enumerate(references)])


def control_unit(index: int, control: dict) -> str:
    """One control as sd-webui-controlnet's `ControlNet N: "..."` unit (its picture by hash)."""
    module = control["mode"] if control.get("preprocess", True) else "none"
    return _unit(index, module, control["mode"], control["scale"], control["start"], control["end"],
                 control["image_sha256"])


def reference_unit(index: int, reference: dict) -> str:
    """One reference image as the IP-Adapter unit sd-webui-controlnet writes (acting from the first step to the last)."""
    return _unit(index, IP_ADAPTER, IP_ADAPTER, reference["scale"], 0.0, 1.0, reference["image_sha256"])


def _unit(index: int, module: str, model: str, scale: float, start: float, end: float, sha256: str) -> str:
    return (f'ControlNet {index}: "Module: {module}, Model: {model}, Weight: {scale:g}, '
            f'Guidance Start: {start:g}, Guidance End: {end:g}, Image hash: {sha256[:16]}"')


# "Key: value" pairs of A1111's settings line; a value may be a quoted unit holding commas.
_SETTING = re.compile(r'\s*([^:,"]+):\s*("(?:[^"\\]|\\.)*"|[^,]*)(?:,|$)')


# LoRA adapters in A1111's text go in the prompt, `<lora:name:weight>`, where A1111 reads them.
_LORA_TAG = re.compile(r"\s*<lora:([^:>]+):(-?[0-9.]+)>")


def lora_tags(choices: list[dict]) -> str:
    return "".join(f" <lora:{c['id']}:{c['scale']:g}>" for c in choices)


def _split_lora_tags(prompt: str) -> tuple[str, list[dict]]:
    """A prompt without its `<lora:name:weight>` tags, and the adapters they name."""
    choices = []
    for name, weight in _LORA_TAG.findall(prompt):
        try:
            choices.append({"id": name, "scale": float(weight)})
        except ValueError:
            pass
    return _LORA_TAG.sub("", prompt).strip(), choices


# --- PNG --------------------------------------------------------------------------------------


def png_bytes(image, parameters: dict) -> bytes:
    """A PIL image as PNG bytes, with its recipe in text chunks."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(A1111_KEY, recipe_text(parameters))
    info.add_itxt(RECIPE_KEY, json.dumps(request_fields(parameters), ensure_ascii=False, sort_keys=True))
    info.add_text("Software", SOFTWARE)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def recipe_from_png(data: bytes) -> dict | None:
    """The request fields a PNG carries: Atelier's JSON if present, else what its A1111 text says.
    None for a PNG without a recipe (or not a PNG)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header and the chunks before the pixels only
            if image.format != "PNG":
                return None
            # Text chunks ahead of the image data (where Atelier and A1111 write them) are in
            # `info` without decoding a pixel, so a huge or hostile PNG costs nothing here.
            text = {k: v for k, v in image.info.items() if isinstance(v, str)}
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    if RECIPE_KEY in text:
        try:
            recipe = json.loads(text[RECIPE_KEY])
            return recipe if isinstance(recipe, dict) else None
        except ValueError:
            pass
    return parse_a1111(text[A1111_KEY]) if A1111_KEY in text else None


def control_units(data: bytes) -> list[dict]:
    """The ControlNet units in a PNG's A1111 text: {"module", "model", "scale", "start", "end", "image_hash"}
    each (the hash: the first 16 hex digits of the picture's sha256, where Atelier wrote one). Read from
    the header's text chunks only, as recipe_from_png is; [] for a PNG without them or not a PNG. The
    IP-Adapter units are the references: not here, but in reference_units."""
    return [unit for unit in _units(data) if not _is_ip_adapter(unit)]


def reference_units(data: bytes) -> list[dict]:
    """The reference images in a PNG's A1111 text (its IP-Adapter units): {"scale", "image_hash"} each."""
    return [{"scale": unit["scale"], "image_hash": unit["image_hash"]} for unit in _units(data) if _is_ip_adapter(unit)]


def _is_ip_adapter(unit: dict) -> bool:
    """Ours ("ip-adapter"), or sd-webui-controlnet's ("ip-adapter_clip_sd15", "ip-adapter_sd15 [6a3f6166]")."""
    return any(unit[key].lower().replace("_", "-").startswith(IP_ADAPTER) for key in ("module", "model"))


def _units(data: bytes) -> list[dict]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            text = image.info.get(A1111_KEY) if image.format == "PNG" else None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return []
    lines = text.strip().split("\n") if isinstance(text, str) else []
    settings = dict((k.strip(), v.strip()) for k, v in _SETTING.findall(lines[-1])) if lines else {}
    units = []
    for key in sorted((k for k in settings if re.fullmatch(r"ControlNet \d+", k)), key=lambda k: int(k.split()[1])):
        unit = {k.strip(): v.strip() for k, v in _SETTING.findall(settings[key].strip('"'))}
        try:
            units.append({"module": unit.get("Module", ""), "model": unit.get("Model", ""),
                          "scale": float(unit.get("Weight", 1)), "start": float(unit.get("Guidance Start", 0)),
                          "end": float(unit.get("Guidance End", 1)), "image_hash": unit.get("Image hash", "")})
        except ValueError:
            pass
    return units


def parse_a1111(text: str) -> dict:
    """Request fields from AUTOMATIC1111's `parameters` text (as written by A1111 or by us)."""
    lines = text.strip().split("\n")
    settings_line = lines[-1] if len(lines) > 1 and "Steps:" in lines[-1] else ""
    body = lines[:-1] if settings_line else lines
    prompt_lines = [line for line in body if not line.startswith("Negative prompt:")]
    negative = next((line.removeprefix("Negative prompt:").strip() for line in body if line.startswith("Negative prompt:")), "")
    prompt, choices = _split_lora_tags("\n".join(prompt_lines))
    fields: dict = {"prompt": prompt}
    if choices:
        fields["loras"] = choices
    if negative:
        fields["negative_prompt"] = negative
    settings = {key.strip(): value.strip() for key, value in _SETTING.findall(settings_line)}
    conversions = {"Steps": ("steps", int), "CFG scale": ("guidance", float), "Seed": ("seed", int),
                   "Denoising strength": ("strength", float)}  # A1111's img2img strength
    for key, (name, convert) in conversions.items():
        try:
            fields[name] = convert(settings[key])
        except (KeyError, ValueError):
            pass
    if "x" in settings.get("Size", ""):
        try:
            fields["width"], fields["height"] = (int(n) for n in settings["Size"].split("x", 1))
        except ValueError:
            pass
    return fields


def mp4_tags(parameters: dict) -> dict[str, str]:
    """The metadata an MP4 carries: the prompt as its title, the A1111-style recipe as its comment,
    the request as JSON (models/video/encoding.py writes them as MP4 metadata keys)."""
    return {
        "title": parameters.get("prompt", ""),
        "comment": recipe_text(parameters),
        RECIPE_KEY: json.dumps(request_fields(parameters), ensure_ascii=False, sort_keys=True),
    }


def audio_with_recipe(data: bytes, fmt: str, parameters: dict) -> bytes:
    if fmt == "wav":
        return wav_with_recipe(data, parameters)
    if fmt == "mp3":
        return mp3_with_recipe(data, parameters)
    return data


# --- WAV --------------------------------------------------------------------------------------


def wav_with_recipe(wav: bytes, parameters: dict) -> bytes:
    """A WAV file with a LIST/INFO chunk after its data, and the RIFF size updated."""
    entries = b"".join(_info_entry(tag, value) for tag, value in (
        (b"INAM", parameters.get("prompt", "")), (b"ICMT", recipe_text(parameters)), (b"ISFT", SOFTWARE)))
    chunk = b"LIST" + struct.pack("<I", 4 + len(entries)) + b"INFO" + entries
    body = wav[8:] + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _info_entry(tag: bytes, text: str) -> bytes:
    data = text.encode("utf-8") + b"\0"
    return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")  # chunks are word-aligned


# --- MP3 --------------------------------------------------------------------------------------


def mp3_with_recipe(mp3: bytes, parameters: dict) -> bytes:
    """MP3 frames with an ID3v2.3 tag in front: title, comment (the recipe), encoder software."""
    frames = (
        _id3_text_frame(b"TIT2", parameters.get("prompt", ""))
        + _id3_comment_frame(recipe_text(parameters))
        + _id3_text_frame(b"TSSE", SOFTWARE)
    )
    return b"ID3" + bytes([3, 0, 0]) + _syncsafe(len(frames)) + frames + mp3


def _id3_text_frame(frame_id: bytes, text: str) -> bytes:
    data = b"\x01" + text.encode("utf-16")  # encoding 1: UTF-16 with a byte-order mark
    return frame_id + struct.pack(">I", len(data)) + b"\0\0" + data


def _id3_comment_frame(text: str) -> bytes:
    data = b"\x01" + b"eng" + "".encode("utf-16") + b"\0\0" + text.encode("utf-16")
    return b"COMM" + struct.pack(">I", len(data)) + b"\0\0" + data


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])
