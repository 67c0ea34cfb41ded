"""Synthetic demo dataset in the DFDC layout, built offline from real face photos.

Every video shows one identity's face, cut out of a public photo with dlib
landmarks, composited on a textured background with smooth head motion, slow
lighting changes and sensor noise.

* REAL videos blink: the lids are drawn over the eye landmark polygons for a few
  frames every 2-6 s (the first blink starts between 0.5 s and 2.0 s).
* FAKE videos reuse the background, motion and lighting of one real video (their
  ``original``) but the face is swapped in from another identity, frame by frame:
  a landmark-aligned affine warp of the source face rendered at reduced
  resolution, blurred and scaled back (the "face warping artifacts" DSP-FWA
  learns), colour-matched and blended inside the landmark hull. Fakes never blink.

Output: ``out_dir/*.mp4`` (H.264, yuv420p) and ``out_dir/metadata.json`` mapping
each file name to ``{"label": "REAL"|"FAKE", "split": "train", "original": ...}``.
metadata.json is written last: its presence marks a complete dataset.

Modules, by job: ``photos`` (reading the face photos, dlib landmarks),
``identities`` (aligned portraits), ``render`` (scenes and frames), ``blink``
(blink schedule and eyelids), ``swap`` (face swap with warping artifacts),
``encode`` (H.264 files) and ``build`` (``generate_demo_dataset``).
"""

from .build import generate_demo_dataset
from .encode import write_video
from .identities import PORTRAIT, Identity, load_identities
from .photos import face_model_path

__all__ = [
    "PORTRAIT",
    "Identity",
    "face_model_path",
    "generate_demo_dataset",
    "load_identities",
    "write_video",
]
