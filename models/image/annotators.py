"""Annotators: the control picture of a mode, made from any picture.

    canny      OpenCV's Canny edges (thresholds 100/200, as ControlNet's demos), white on black
    depth      Depth Anything V2 (transformers), near is white
    normal     from the depth map: its slopes as a normal map (ControlNet 1.0's way)
    pose       ViTPose (transformers) on the whole picture, drawn as OpenPose's coloured sticks
    softedge   HED (models/image/hed.py)
    scribble   HED's edges thinned and thresholded into bold lines (ControlNet's "fake scribble")
    tile       the picture itself;   blur   the picture blurred (SD3.5's and FLUX's upscale controls)

Annotations are cached per picture and mode (a person tries several prompts on one picture), and
the models are loaded on first use. Not thread-safe: a model's annotations, a batch's controls and the
model class's `annotate` method alike, all run on its one model thread (models/common/batching.py).
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict

import numpy as np

from models.common.errors import RequestError
from models.common.weights import LOAD_LOCK, ensure_weights
from models.image.guides import GuideSet

CACHE_SIZE = 32  # annotations kept (PNG bytes: a 1024² depth map is ~0.5 MB)
CANNY_THRESHOLDS = (100, 200)
POSE_MIN_SCORE = 0.3
# Keeping a picture's shape, DPT's processor (Depth Anything's) rounds each side to its patch size: a side
# far shorter than the other rounds to 0 pixels and the model fails. A thinner picture is stretched to
# this shape for the model, and its depth map back to the picture's.
DEPTH_MAX_ASPECT = 4
# OpenPose's 18 body points: COCO's 17 reordered, plus the neck (between the shoulders).
_COCO_TO_OPENPOSE = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
_LIMBS = [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
          (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)]
_COLOURS = [(255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
            (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
            (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85)]


class Annotators:
    def __init__(self, guides: GuideSet, device: str):
        self.guides, self.device = guides, device
        self._models: dict[str, tuple] = {}
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def annotate(self, picture, mode: str):
        """The control picture (PIL, RGB, the picture's size) of `mode` for a PIL RGB picture."""
        from PIL import Image

        key = (hashlib.sha256(picture.tobytes() + repr(picture.size).encode()).hexdigest(), mode)
        if key in self._cache:
            self._cache.move_to_end(key)
            return Image.open(io.BytesIO(self._cache[key])).convert("RGB")
        made = Image.fromarray(self._make(np.asarray(picture.convert("RGB")), mode)).convert("RGB")
        buffer = io.BytesIO()
        made.save(buffer, format="PNG", compress_level=1)
        self._cache[key] = buffer.getvalue()
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return made

    def _make(self, rgb: np.ndarray, mode: str) -> np.ndarray:
        import cv2

        if mode == "canny":
            return cv2.Canny(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), *CANNY_THRESHOLDS)
        if mode == "depth":
            return self._depth(rgb)
        if mode == "normal":
            return normals(self._depth(rgb))
        if mode == "pose":
            return self._pose(rgb)
        if mode == "softedge":
            from models.image import hed  # torch: imported when a soft edge is first made

            return hed.soft_edges(self._model("softedge"), rgb)
        if mode == "scribble":
            from models.image import hed

            return scribble(hed.soft_edges(self._model("softedge"), rgb))
        if mode == "tile":
            return rgb
        if mode == "blur":
            return cv2.GaussianBlur(rgb, (0, 0), max(rgb.shape[:2]) / 128)
        raise RequestError(f"There is no {mode} annotator here: send the {mode} picture ready-made (preprocess: false).")

    def _model(self, name: str):
        """The annotator model (and its processor), loaded on first use."""
        if name not in self._models:
            folder = ensure_weights(self.guides.annotators[name])
            with LOAD_LOCK:
                self._models[name] = _load(name, folder, self.device)
        return self._models[name]

    def _depth(self, rgb: np.ndarray) -> np.ndarray:
        import torch
        from PIL import Image

        model, processor = self._model("depth")
        height, width = rgb.shape[:2]
        picture = Image.fromarray(rgb)
        if max(height, width) > DEPTH_MAX_ASPECT * min(height, width):
            picture = picture.resize((max(width, height // DEPTH_MAX_ASPECT), max(height, width // DEPTH_MAX_ASPECT)))
        inputs = processor(images=picture, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            output = model(**inputs)
        depth = processor.post_process_depth_estimation(output, target_sizes=[rgb.shape[:2]])[0]["predicted_depth"]
        depth = depth.float().cpu().numpy()
        low, high = float(depth.min()), float(depth.max())
        return ((depth - low) / (high - low if high > low else 1.0) * 255.0).round().astype(np.uint8)

    def _pose(self, rgb: np.ndarray) -> np.ndarray:
        import torch
        from PIL import Image

        model, processor = self._model("pose")
        height, width = rgb.shape[:2]
        boxes = [[[0.0, 0.0, float(width), float(height)]]]  # the whole picture: one person, framed (COCO x, y, w, h)
        inputs = processor(images=Image.fromarray(rgb), boxes=boxes, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            output = model(**inputs)
        person = processor.post_process_pose_estimation(output, boxes=boxes)[0][0]
        return draw_pose(person["keypoints"].float().cpu().numpy(), person["scores"].float().cpu().numpy(),
                         (height, width))


def _load(name: str, folder, device: str) -> tuple | object:
    if name == "softedge":
        from models.image import hed

        return hed.load(folder).to(device)
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation, VitPoseForPoseEstimation

    model_class = AutoModelForDepthEstimation if name == "depth" else VitPoseForPoseEstimation
    return model_class.from_pretrained(folder).to(device).eval(), AutoImageProcessor.from_pretrained(folder)


def draw_pose(keypoints: np.ndarray, scores: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """COCO's 17 keypoints (x, y) as OpenPose draws a body: coloured limbs and joints on black."""
    import cv2

    height, width = size
    points: list[tuple[float, float] | None] = []
    for index in _COCO_TO_OPENPOSE:
        if index is None:  # the neck: between the shoulders, when both are seen
            seen = scores[5] >= POSE_MIN_SCORE and scores[6] >= POSE_MIN_SCORE
            points.append(tuple((keypoints[5] + keypoints[6]) / 2) if seen else None)
        else:
            points.append(tuple(keypoints[index]) if scores[index] >= POSE_MIN_SCORE else None)
    canvas = np.zeros((height, width, 3), np.uint8)
    stick = max(1, round(4 * max(height, width) / 512))
    for (a, b), colour in zip(_LIMBS, _COLOURS, strict=False):
        if points[a] is None or points[b] is None:
            continue
        (xa, ya), (xb, yb) = points[a], points[b]
        length = float(np.hypot(xa - xb, ya - yb))
        angle = float(np.degrees(np.arctan2(ya - yb, xa - xb)))
        polygon = cv2.ellipse2Poly((round((xa + xb) / 2), round((ya + yb) / 2)), (round(length / 2), stick),
                                   round(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, polygon, tuple(round(c * 0.6) for c in colour))
    for point, colour in zip(points, _COLOURS, strict=True):
        if point is not None:
            cv2.circle(canvas, (round(point[0]), round(point[1])), stick, colour, thickness=-1)
    return canvas


def normals(depth: np.ndarray, background: float = 0.1) -> np.ndarray:
    """A normal map from a depth map (near = bright): x and y from its slopes, z up; flat far background."""
    import cv2

    d = depth.astype(np.float32)
    x = cv2.Sobel(d, cv2.CV_32F, 1, 0, ksize=3)
    y = cv2.Sobel(d, cv2.CV_32F, 0, 1, ksize=3)
    far = d < background * 255
    x[far], y[far] = 0, 0
    z = np.full_like(d, np.pi * 2 * 255 / 100)
    normal = np.stack([x, y, z], axis=2)
    normal /= np.linalg.norm(normal, axis=2, keepdims=True) + 1e-6
    return ((normal * 0.5 + 0.5) * 255).round().clip(0, 255).astype(np.uint8)


def scribble(edges: np.ndarray, threshold: int = 127, sigma: float = 3.0) -> np.ndarray:
    """Soft edges as bold scribbled lines: thinned to their ridges, thresholded, widened by a blur."""
    import cv2

    smooth = cv2.GaussianBlur(edges.astype(np.float32), (0, 0), sigma)
    ridges = np.zeros_like(smooth)
    for kernel in ([[0, 0, 0], [1, 1, 1], [0, 0, 0]], [[0, 1, 0], [0, 1, 0], [0, 1, 0]],
                   [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 0, 1], [0, 1, 0], [1, 0, 0]]):
        np.putmask(ridges, cv2.dilate(smooth, np.array(kernel, np.uint8)) == smooth, smooth)
    lines = np.where(ridges > threshold, 255, 0).astype(np.uint8)
    lines = cv2.GaussianBlur(lines, (0, 0), sigma)
    return np.where(lines > 4, 255, 0).astype(np.uint8)
