"""Reading the face photos: images that ship inside installed or downloaded
packages, and dlib's faces and 68 landmarks in them.

The demo dataset is built from a handful of public face photos that need no
download at run time: ``skimage.data.astronaut()`` and two images inside the
insightface wheel (read straight out of the zip file, insightface itself is not
installed). The dlib landmark model comes from ``face_recognition_models``; its
files are located without importing the package (its ``__init__`` needs
``pkg_resources``, absent with recent setuptools).
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ...errors import InputError

WHEEL_IMAGES = {
    "t1": "insightface/data/images/t1.jpg",
    "tom_hanks": "insightface/data/images/Tom_Hanks_54745.png",
}


def face_model_path(name: str = "shape_predictor_68_face_landmarks.dat") -> Path:
    """Path of a model file shipped by ``face_recognition_models``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "package face_recognition_models is not installed; it ships the dlib "
            f"model {name} (run `make setup`)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / name
        if path.is_file():
            return path
    raise InputError(f"dlib model file {name} not found in face_recognition_models")


@lru_cache(maxsize=2)
def _landmark_predictor(path: str):
    import dlib

    return dlib.shape_predictor(path)


@lru_cache(maxsize=1)
def _hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()


def read_wheel_image(wheel_path: str | os.PathLike, member: str) -> np.ndarray:
    """Decode one image stored in a wheel (zip) file; returns RGB uint8."""
    wheel_path = Path(wheel_path)
    if not wheel_path.is_file():
        raise InputError(
            f"face photo archive {wheel_path} is missing; `make setup` fetches it "
            "(the insightface wheel, used only as a source of face photos)"
        )
    try:
        with zipfile.ZipFile(wheel_path) as zf:
            data = zf.read(member)
    except KeyError as err:
        raise InputError(f"{wheel_path}: member {member} not found") from err
    except zipfile.BadZipFile as err:
        raise InputError(f"{wheel_path}: not a valid wheel/zip file") from err
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{wheel_path}: member {member} is not a readable image")
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def source_photos(wheel_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The source photos by name: astronaut, t1 (six people), tom_hanks."""
    import skimage.data

    photos = {"astronaut": np.ascontiguousarray(skimage.data.astronaut()[..., :3])}
    for name, member in WHEEL_IMAGES.items():
        photos[name] = read_wheel_image(wheel_path, member)
    return photos


@dataclass(frozen=True)
class DetectedFace:
    photo: str
    index: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    landmarks: np.ndarray  # 68 x 2 float32, photo pixel coordinates


def detect_faces(
    image: np.ndarray, photo: str = "", upsample: int = 0
) -> list[DetectedFace]:
    """dlib HOG faces with 68 landmarks, ordered left to right."""
    detector = _hog_detector()
    predictor = _landmark_predictor(str(face_model_path()))
    rects = sorted(detector(image, upsample), key=lambda r: (r.left(), r.top()))
    faces = []
    for i, rect in enumerate(rects):
        shape = predictor(image, rect)
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        box = (rect.left(), rect.top(), rect.right(), rect.bottom())
        faces.append(DetectedFace(photo, i, box, pts))
    return faces


def landmarks_in_box(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """68 landmarks of the face in ``box`` (x0, y0, x1, y1)."""
    import dlib

    predictor = _landmark_predictor(str(face_model_path()))
    shape = predictor(image, dlib.rectangle(*[int(v) for v in box]))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
