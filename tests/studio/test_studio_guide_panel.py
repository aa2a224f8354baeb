"""The image tab's Guide panel at Gradio's level (no browser): what a dropped PNG's guides put back in it.
The browser tests (tests/studio/test_browser_guides.py) drive the same panel through a page."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from models.common.recipes import png_bytes
from ui.generation import shelf
from ui.studio.guide_panel import GuidePanel


def picture(colour: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def panel() -> GuidePanel:
    with gr.Blocks():
        return GuidePanel.build("tiny")


def recipe_png(controls: list[dict], references: list[dict]) -> bytes:
    """A PNG whose recipe names these guides, as the image model writes it."""
    parameters = {"prompt": "a fox", "steps": 1, "guidance": 0.0, "seed": 1, "width": 64, "height": 64,
                  "preset": "tiny", "controls": controls, "references": references}
    return png_bytes(Image.new("RGB", (64, 64)), parameters)


def test_a_dropped_pngs_reference_comes_back_with_its_scale_and_its_picture_while_at_hand(panel):
    style, edges = picture("teal"), picture("black")
    for data in (style, edges):
        shelf.put(hashlib.sha256(data).hexdigest(), data)
    control = {"mode": "canny", "scale": 0.7, "start": 0.0, "end": 1.0, "preprocess": True,
               "image_sha256": hashlib.sha256(edges).hexdigest()}
    reference = {"scale": 0.9, "image_sha256": hashlib.sha256(style).hexdigest()}
    updates = panel.from_png("tiny", recipe_png([control], [reference]))
    assert updates[panel.reference_scale] == 0.9
    assert Path(updates[panel.reference]).read_bytes() == style
    assert updates[panel.mode] == "canny" and updates[panel.scale] == 0.7  # the control, as before, beside it


def test_a_reference_no_longer_at_hand_keeps_its_scale_and_says_so(panel):
    gone = {"scale": 1.2, "image_sha256": "0f" * 32}
    with pytest.warns(UserWarning, match="reference picture isn't at hand"):
        updates = panel.from_png("tiny", recipe_png([], [gone]))
    assert updates[panel.reference_scale] == 1.2 and updates[panel.reference] is None
    assert panel.mode not in updates  # no control: the panel's own is left as it is
