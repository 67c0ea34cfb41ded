"""Face detection (dlib), 68 landmarks, face and eye crops.

Detectors:

* ``hog``: dlib's frontal HOG + linear SVM detector (the study's choice);
* ``cnn``: dlib's MMOD CNN detector (``mmod_human_face_detector.dat``).

Model files come from the ``face_recognition_models`` package, located with
``importlib.util.find_spec`` without importing it. Each model is loaded once
per process.

Detection runs on a downscaled (and, for HOG, grey) copy of the frame: the
frame is resized by ``detect_scale`` (but a frame is not made smaller than
``MIN_DETECT_SIDE`` = 640 px on its longer side, so small videos keep their
resolution), or further so that its longer side is at most
``max_detect_side``; boxes are mapped back to frame coordinates. Landmarks are
predicted on the full-resolution frame.

Face crop: the detector box is enlarged by ``crop_scale`` around its centre
and made square (side = ``crop_scale * max(w, h)``). If the square leaves the
frame it is shifted back inside; if it is larger than the frame's shorter side
it is shrunk to that side (centred as far as possible). The crop is resized to
``face_size``; landmarks are returned in crop pixel coordinates.

Eye crops (In Ictu Oculi): for landmarks 36-41 (the eye on the image's left)
and 42-47, take the tight box (w x h) of the six points and widen it by
``0.25 * w`` on the left and on the right and by ``1.75 * h`` above and below
(total ``1.5 w`` x ``4.5 h``); the result is made square (side = the larger of
the two, same centre), clipped like the face crop, cut from the full-resolution
frame and resized to ``eye_size``.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np

from ..defaults import DEFAULTS

__all__ = [
    "FaceRecord",
    "model_path",
    "get_detector",
    "get_predictor",
    "detect_faces",
    "square_box",
    "eye_boxes",
    "crop_resize",
    "extract_faces",
    "FaceTracker",
]

EYE_WIDEN_X = 0.25
EYE_WIDEN_Y = 1.75
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)


def model_path(name: str) -> Path:
    """Path of a model file shipped by ``face_recognition_models``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package face_recognition_models is not installed "
            "(pip install face-recognition-models)"
        )
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "models" / name
        if p.exists():
            return p
    raise FileNotFoundError(f"{name} not found in face_recognition_models/models")


@functools.cache
def get_detector(kind: str = "hog"):
    if kind == "hog":
        return dlib.get_frontal_face_detector()
    if kind == "cnn":
        return dlib.cnn_face_detection_model_v1(
            str(model_path("mmod_human_face_detector.dat"))
        )
    raise ValueError(f"unknown detector {kind!r} (hog | cnn)")


@functools.cache
def get_predictor():
    return dlib.shape_predictor(
        str(model_path("shape_predictor_68_face_landmarks.dat"))
    )


MIN_DETECT_SIDE = 640


def detection_scale(
    height: int,
    width: int,
    detect_scale: float = 1.0,
    max_detect_side: int | None = None,
    min_detect_side: int = MIN_DETECT_SIDE,
) -> float:
    """Resize factor for detection: ``detect_scale``, but never below
    ``min_detect_side`` on the longer side (small frames keep their
    resolution) and never above ``max_detect_side``."""
    side = max(height, width)
    s = float(detect_scale)
    if min_detect_side and s < 1.0:
        s = max(s, min(1.0, min_detect_side / side))
    if max_detect_side:
        s = min(s, max_detect_side / max(height, width))
    return s


def detect_faces(
    image: np.ndarray,
    detector: str = DEFAULTS["preprocess.detector"],
    upsample: int = DEFAULTS["preprocess.upsample"],
    detect_scale: float = 1.0,
    max_detect_side: int | None = DEFAULTS["preprocess.max_detect_side"],
    min_detect_side: int = MIN_DETECT_SIDE,
) -> np.ndarray:
    """Boxes (x0, y0, x1, y1) in frame pixels, float32 K x 4, largest first."""
    h, w = image.shape[:2]
    s = detection_scale(h, w, detect_scale, max_detect_side, min_detect_side)
    if detector == "hog" and image.ndim == 3:
        # HOG on grey: faster than on RGB and found as many faces or more
        # (benchmarks/preprocess.py --sweep)
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if abs(s - 1.0) > 1e-6:
        small = cv2.resize(
            image,
            (max(1, round(w * s)), max(1, round(h * s))),
            interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
        )
    else:
        small = image
    small = np.ascontiguousarray(small)
    dets = get_detector(detector)(small, int(upsample))
    boxes = []
    for d in dets:
        r = d.rect if hasattr(d, "rect") else d
        boxes.append((r.left(), r.top(), r.right() + 1, r.bottom() + 1))
    if not boxes:
        return np.zeros((0, 4), np.float32)
    b = np.asarray(boxes, np.float32) / s
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    keep = area > 0
    b, area = b[keep], area[keep]
    return b[np.argsort(-area, kind="stable")]


#: in a tracked region the face is resized (up or down) to about this many
#: pixels, just above the 80 px window of dlib's HOG detector, and searched at
#: upsample 0: a 2x pyramid step up would search four times the pixels
#: (benchmarks/preprocess.py --sweep: 85 px searched fewer pyramid levels than
#: 100 px and found the same faces)
REGION_FACE_PX = DEFAULTS["preprocess.track_face_px"]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def detect_in_region(
    image: np.ndarray,
    box: np.ndarray,
    margin: float,
    detector: str = DEFAULTS["preprocess.detector"],
    face_px: int = REGION_FACE_PX,
) -> np.ndarray:
    """Faces inside ``box`` enlarged by ``margin`` x its side on every side,
    the region scaled so that a face of the box's size is about ``face_px``
    wide; boxes in frame pixels, largest first."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0, 1.0)
    rx0, ry0 = int(max(0, x0 - margin * side)), int(max(0, y0 - margin * side))
    rx1, ry1 = int(min(w, x1 + margin * side)), int(min(h, y1 + margin * side))
    region = image[ry0:ry1, rx0:rx1]
    if region.size == 0:
        return np.zeros((0, 4), np.float32)
    if detector == "hog" and region.ndim == 3:
        region = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY)
    s = face_px / side
    upsample = 0
    small = cv2.resize(
        region,
        (max(1, round(region.shape[1] * s)), max(1, round(region.shape[0] * s))),
        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
    )
    dets = get_detector(detector)(np.ascontiguousarray(small), upsample)
    boxes = []
    for d in dets:
        r = d.rect if hasattr(d, "rect") else d
        boxes.append((r.left(), r.top(), r.right() + 1, r.bottom() + 1))
    if not boxes:
        return np.zeros((0, 4), np.float32)
    b = np.asarray(boxes, np.float32) / s + np.array([rx0, ry0, rx0, ry0], np.float32)
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return b[np.argsort(-area, kind="stable")]


class FaceTracker:
    """Face boxes of one video's sampled frames, in one of two modes.

    ``detect_every = 1``: every frame is searched whole (:func:`detect_faces`).
    ``detect_every = k > 1``: every k-th sample is searched whole; in between,
    only regions around the faces found in the previous sample are searched
    (:func:`detect_in_region`, ``track_margin`` x the face's side around it,
    scaled so that the face is ``track_face_px`` wide). A region that comes
    up empty is searched once more with twice the margin (a face that moved
    further); when that too is empty, the frame is searched whole after all,
    and the count starts again. A face that enters the picture is found at
    the next whole-frame search.
    """

    def __init__(
        self,
        detector: str = DEFAULTS["preprocess.detector"],
        upsample: int = DEFAULTS["preprocess.upsample"],
        detect_scale: float = 1.0,
        max_detect_side: int | None = DEFAULTS["preprocess.max_detect_side"],
        detect_every: int = 1,
        track_margin: float = 0.5,
        track_face_px: int = REGION_FACE_PX,
        faces: str = DEFAULTS["preprocess.faces"],
    ):
        self.full = dict(
            detector=detector,
            upsample=upsample,
            detect_scale=detect_scale,
            max_detect_side=max_detect_side,
        )
        self.detector = detector
        self.every = max(1, int(detect_every))
        self.margin = float(track_margin)
        self.face_px = int(track_face_px)
        self.keep = 1 if faces == "largest" else None
        self.previous = np.zeros((0, 4), np.float32)
        self.since_full = 0
        self.full_searches = 0
        self.region_searches = 0
        self.region_retries = 0

    def _full(self, image: np.ndarray) -> np.ndarray:
        self.full_searches += 1
        self.since_full = 0
        return detect_faces(image, **self.full)

    def _region(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        self.region_searches += 1
        boxes = detect_in_region(image, box, self.margin, self.detector, self.face_px)
        if len(boxes) == 0:
            self.region_retries += 1
            boxes = detect_in_region(
                image, box, 2 * self.margin, self.detector, self.face_px
            )
        return boxes

    def _regions(self, image: np.ndarray) -> np.ndarray | None:
        found: list[np.ndarray] = []
        for box in self.previous:
            boxes = self._region(image, box)
            if len(boxes) == 0:
                return None
            for b in boxes:
                if all(_iou(b, f) < 0.5 for f in found):
                    found.append(b)
        b = np.asarray(found, np.float32).reshape(-1, 4)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        return b[np.argsort(-area, kind="stable")]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        boxes = None
        if self.every > 1 and len(self.previous) and self.since_full < self.every - 1:
            boxes = self._regions(image)
            if boxes is not None:
                self.since_full += 1
        if boxes is None:
            boxes = self._full(image)
        if self.keep is not None:
            boxes = boxes[: self.keep]
        self.previous = boxes
        return boxes


def square_box(
    cx: float, cy: float, side: float, width: int, height: int
) -> tuple[int, int, int]:
    """Integer square (x0, y0, side) around a centre, kept inside the frame.

    Shifted inside the frame when it sticks out; shrunk to the frame's
    shorter side when larger than it.
    """
    side = int(round(min(max(side, 1.0), width, height)))
    x0 = int(round(cx - side / 2))
    y0 = int(round(cy - side / 2))
    x0 = min(max(x0, 0), width - side)
    y0 = min(max(y0, 0), height - side)
    return x0, y0, side


def face_crop_box(
    box: np.ndarray,
    width: int,
    height: int,
    crop_scale: float = DEFAULTS["preprocess.crop_scale"],
) -> tuple[int, int, int]:
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * crop_scale
    return square_box((x0 + x1) / 2, (y0 + y1) / 2, side, width, height)


def eye_boxes(
    landmarks: np.ndarray, width: int, height: int
) -> list[tuple[int, int, int]]:
    """Square eye boxes (x0, y0, side) in the landmarks' coordinates."""
    out = []
    for sl in (LEFT_EYE, RIGHT_EYE):
        pts = landmarks[sl]
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        w, h = x1 - x0, y1 - y0
        bw = w * (1 + 2 * EYE_WIDEN_X)
        bh = h * (1 + 2 * EYE_WIDEN_Y)
        out.append(square_box((x0 + x1) / 2, (y0 + y1) / 2, max(bw, bh), width, height))
    return out


def crop_resize(
    image: np.ndarray, x0: int, y0: int, side: int, size: int
) -> np.ndarray:
    patch = image[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def predict_landmarks(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    shape = get_predictor()(image, dlib.rectangle(x0, y0, x1 - 1, y1 - 1))
    return np.array([(p.x, p.y) for p in shape.parts()], np.float32)


@dataclass
class FaceRecord:
    face: np.ndarray  # S x S x 3 uint8
    eyes: np.ndarray  # 2 x E x E x 3 uint8 (image-left eye, image-right eye)
    landmarks: np.ndarray  # 68 x 2 float32, crop pixel coordinates
    box: np.ndarray  # detector box x0, y0, x1, y1 (frame pixels), float32
    crop_box: np.ndarray  # face crop x0, y0, x1, y1 (frame pixels), float32
    face_index: int  # 0 = largest face of the frame


def extract_faces(
    image: np.ndarray,
    detector: str = DEFAULTS["preprocess.detector"],
    upsample: int = DEFAULTS["preprocess.upsample"],
    detect_scale: float = 1.0,
    max_detect_side: int | None = DEFAULTS["preprocess.max_detect_side"],
    faces: str = DEFAULTS["preprocess.faces"],
    crop_scale: float = DEFAULTS["preprocess.crop_scale"],
    face_size: int = DEFAULTS["preprocess.face_size"],
    eye_size: int = DEFAULTS["preprocess.eye_size"],
    tracker: FaceTracker | None = None,
) -> list[FaceRecord]:
    """Detect faces in an RGB frame and return their crops (largest first).

    ``tracker`` (one per video) finds the boxes when given; else the whole
    frame is searched with the detector settings given here.
    """
    if faces not in ("largest", "all"):
        raise ValueError(f"faces must be 'largest' or 'all', not {faces!r}")
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    if tracker is not None:
        boxes = tracker(image)
    else:
        boxes = detect_faces(image, detector, upsample, detect_scale, max_detect_side)
    if faces == "largest":
        boxes = boxes[:1]
    out = []
    for i, box in enumerate(boxes):
        lm = predict_landmarks(image, box)
        cx0, cy0, side = face_crop_box(box, w, h, crop_scale)
        face = crop_resize(image, cx0, cy0, side, face_size)
        eyes = np.stack(
            [
                crop_resize(image, ex, ey, es, eye_size)
                for ex, ey, es in eye_boxes(lm, w, h)
            ]
        )
        lm_crop = (lm - np.array([cx0, cy0], np.float32)) * (face_size / side)
        out.append(
            FaceRecord(
                face=face,
                eyes=eyes,
                landmarks=lm_crop.astype(np.float32),
                box=box.astype(np.float32),
                crop_box=np.array([cx0, cy0, cx0 + side, cy0 + side], np.float32),
                face_index=i,
            )
        )
    return out
