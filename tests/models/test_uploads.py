"""Uploaded images and masks: real image types only (by their bytes), limits checked before
decoding, every mode converted, and a readable message for everything refused."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from models.common.errors import RequestError
from models.image import uploads
from models.image.uploads import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from models.requests import ImageRequest, parse
from tests.support.images import png_claiming


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def refused(field: str, data: bytes, **others) -> str:
    with pytest.raises(RequestError) as e:
        parse("image", {"prompt": "x", field: base64.b64encode(data).decode(), **others}).resolve("tiny")
    return str(e.value)


def checked(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(ImageRequest(prompt="x", image=data).image))


RED = Image.new("RGB", (80, 64), (200, 30, 30))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_are_read_and_come_out_as_rgb_png(fmt):
    image = checked(encoded(RED, fmt))
    assert image.format == "PNG" and image.mode == "RGB" and image.size == (80, 64)
    assert np.abs(np.asarray(image).astype(int) - (200, 30, 30)).max() <= 8  # JPEG and WebP are lossy


def test_the_type_comes_from_the_bytes_not_the_name():
    assert uploads.sniff(encoded(RED, "JPEG")) == "jpeg"
    assert uploads.sniff(b"hello, I am a text file named cat.png") is None
    assert "not an image we recognise" in refused("image", b"hello, I am a text file named cat.png")


@pytest.mark.parametrize("data, named", [
    (encoded(RED, "GIF"), "a GIF image"),
    (encoded(RED, "BMP"), "a BMP image"),
    (encoded(RED, "TIFF"), "a TIFF image"),
    (b"%PDF-1.7\n1 0 obj <<>> endobj\n", "a PDF document"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "an SVG drawing"),
    (b'<svg width="10" height="10"></svg>', "an SVG drawing"),
])
def test_other_files_are_refused_by_name(data, named):
    assert refused("image", data) == f"Image must be a PNG, JPEG or WebP image; this is {named}."


def test_too_many_pixels_is_refused_from_the_header_before_decoding():
    bomb = png_claiming(50_000, 50_000)
    assert len(bomb) < 100
    assert "far too many pixels" in refused("image", bomb)  # Pillow's own ceiling, caught
    big = png_claiming(5000, 4000)
    assert refused("image", big) == (
        f"Image is 5000×4000 (20.0 megapixels); the limit is {MAX_IMAGE_PIXELS / 1e6:g} megapixels.")


def test_too_many_bytes_is_refused_before_decoding_base64():
    text = "A" * ((MAX_IMAGE_BYTES + 2) // 3 * 4 + 8)
    with pytest.raises(RequestError, match=r"Image file is 8\.0 MB; the limit is 8 MB\."):
        parse("image", {"prompt": "x", "image": text})
    with pytest.raises(RequestError, match="the limit is 8 MB"):
        parse("image", {"prompt": "x", "image": b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_IMAGE_BYTES})


def test_truncated_and_corrupt_files_are_refused_with_a_message():
    whole = encoded(Image.effect_noise((64, 64), 60).convert("RGB"))
    message = refused("image", whole[: len(whole) // 2])
    assert message.startswith("Image is truncated or corrupt") or message.startswith("Image is not a readable PNG")
    assert refused("image", b"\x89PNG\r\n\x1a\n" + b"junk" * 10).startswith("Image is not a readable PNG file")
    assert refused("image", b"\xff\xd8\xff\xe0" + b"\0" * 40) == (
        "Image starts like a JPEG file but is not one Pillow can read.")


def test_bad_base64_and_data_urls():
    with pytest.raises(RequestError, match="Image must be a base64-encoded PNG, JPEG or WebP file."):
        parse("image", {"prompt": "x", "image": "not base64!"})
    data_url = "data:image/png;base64," + base64.b64encode(encoded(RED)).decode()
    assert parse("image", {"prompt": "x", "image": data_url}).image.startswith(b"\x89PNG")


@pytest.mark.parametrize("mode, make", [
    ("RGBA", lambda: Image.new("RGBA", (8, 8), (0, 0, 0, 0))),  # fully transparent: white
    ("LA", lambda: Image.new("LA", (8, 8), (0, 0))),
    ("P", lambda: Image.new("RGB", (8, 8), (255, 255, 255)).convert("P")),
    ("L", lambda: Image.new("L", (8, 8), 255)),
    ("1", lambda: Image.new("1", (8, 8), 1)),
    ("CMYK", lambda: Image.new("CMYK", (8, 8), (0, 0, 0, 0))),  # no ink: white
    ("I;16", lambda: Image.fromarray(np.full((8, 8), 65535, np.uint16))),
])
def test_every_mode_becomes_rgb(mode, make):
    source = make()
    assert source.mode == mode
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    image = checked(encoded(source, fmt))
    assert image.mode == "RGB"
    assert np.asarray(image).min() >= 250, mode  # each of these is white


def test_sixteen_bit_grey_is_scaled_not_clipped():
    grey = Image.fromarray(np.full((8, 8), 32768, np.uint16))
    assert abs(int(np.asarray(checked(encoded(grey)))[0, 0, 0]) - 128) <= 1


def test_exif_orientation_is_applied():
    tall = Image.new("RGB", (40, 80), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° to show
    image = checked(encoded(tall, "JPEG", exif=exif.tobytes()))
    assert image.size == (80, 40)


def test_a_mask_becomes_grey_from_its_brightness_or_what_is_painted_on_it():
    white_left = Image.new("RGB", (64, 64), "black")
    white_left.paste((255, 255, 255), (0, 0, 32, 64))
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # a brush layer: transparent, one red stroke
    layer.paste((255, 0, 0, 255), (0, 0, 32, 64))
    for source in (white_left, layer):
        request = ImageRequest(prompt="x", image=encoded(RED.resize((64, 64))), mask=encoded(source))
        mask = np.asarray(Image.open(io.BytesIO(request.mask)))
        assert mask.ndim == 2 and mask[:, :32].min() == 255 and mask[:, 32:].max() == 0


def test_mask_problems_get_their_own_messages():
    image = encoded(RED)
    assert refused("mask", encoded(Image.new("L", (80, 64), 0)), image=base64.b64encode(image).decode()) == (
        "Mask is all black, so nothing would be repainted: paint (white) over what should change.")
    assert refused("mask", encoded(Image.new("L", (64, 64), 255)), image=base64.b64encode(image).decode()) == (
        "The mask is 64×64 but the image is 80×64: paint the mask at the image's size.")
    assert refused("mask", encoded(Image.new("L", (80, 64), 255))) == (
        "A mask needs an image to paint on: send image (or image_result) too.")
    assert refused("mask", encoded(RED, "GIF"), image=base64.b64encode(image).decode()) == (
        "Mask must be a PNG, JPEG or WebP image; this is a GIF image.")
    full = ImageRequest(prompt="x", image=image, mask=encoded(Image.new("L", (80, 64), 255))).resolve("tiny")
    assert full.strength == 1.0  # all white is fine: everything is redrawn


def test_strength_bounds_and_its_meaning_without_an_image():
    with pytest.raises(RequestError, match=r"Strength should be less than or equal to 1 \(got 1\.5\)"):
        parse("image", {"prompt": "x", "strength": 1.5, "image": base64.b64encode(encoded(RED)).decode()})
    with pytest.raises(RequestError, match=r"Strength should be greater than or equal to 0 \(got -0\.1\)"):
        parse("image", {"prompt": "x", "strength": -0.1})
    job = parse("image", {"prompt": "x", "strength": 0.4}).resolve("tiny")  # a recipe's settings: no image, ignored
    assert job.strength is None and job.image is None
    with pytest.raises(RequestError, match="A strength of 0.001 is too low for 2 steps: use at least 0.002"):
        ImageRequest(prompt="x", image=encoded(RED), strength=0.001).resolve("tiny")
    with pytest.raises(RequestError, match="A strength of 4.94066e-324 is too low for 2 steps"):
        ImageRequest(prompt="x", image=encoded(RED), strength=5e-324).resolve("tiny")  # found by test_no_5xx
    assert ImageRequest(prompt="x", image=encoded(RED), strength=0.002).resolve("tiny").strength == 0.002


def test_an_unresolved_result_id_is_refused_outside_the_web_side():
    with pytest.raises(RequestError, match="Image result can only be used through the web API"):
        ImageRequest(prompt="x", image_result="AAAAAAAAAAAAAAAA").resolve("tiny")


def test_an_upload_is_decoded_once_on_the_web_side_and_checked_again_by_the_model(monkeypatch):
    from models.common.fields import checked_again
    from models.requests import ImageJob

    opened = []
    real = uploads.open_image
    monkeypatch.setattr(uploads, "open_image", lambda data, limit: opened.append(len(data)) or real(data, limit))
    job = ImageRequest(prompt="x", image=encoded(RED)).resolve("tiny")
    assert len(opened) == 1  # the request's check; the job takes its result as it is
    checked_again(ImageJob, job)  # as the model's generate() does: every check again
    assert len(opened) == 2
    with pytest.raises(ValueError, match="must be a PNG, JPEG or WebP image"):
        checked_again(ImageJob, job.model_copy(update={"image": b"GIF89a..."}))
