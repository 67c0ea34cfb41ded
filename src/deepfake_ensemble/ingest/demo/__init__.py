"""Synthetic demo dataset in the DFDC layout, built offline from real face photos.

Every video shows one identity's face, cut out of a public photo with dlib
landmarks (8 people, each in synthetic variants of skin tone and face shape),
composited on a textured background with smooth head motion, slow lighting
changes and sensor noise.

* REAL videos blink: the lids are drawn over the eye landmark polygons for a few
  frames every 2-6 s (the first blink anywhere from 0.2 s on). Confounders: a
  configured share never blinks, another is a low-quality upload (the whole
  frame downscaled and blurred).
* FAKE videos reuse the background, motion and lighting of one real video (their
  ``original``) with another person's face swapped in, frame by frame. Each
  fake carries one or both cues, in configured shares: ``artefacts`` (the face
  rendered at reduced resolution, blurred and jittering, with a visible blend
  seam: the "face warping artifacts" DSP-FWA learns; otherwise a clean,
  full-resolution swap as sharp as a real face) and ``no_blink`` (the swapped
  face never blinks; otherwise it blinks on its original's schedule).
* Compression (H.264 constant rate factor) varies between videos.

Output: ``out_dir/*.mp4`` (H.264, yuv420p) and ``out_dir/metadata.json`` mapping
each file name to ``{"label": "REAL"|"FAKE", "split": "train", "original": ...,
"group": <identity>, "cues": {"artefacts", "no_blink", "low_quality"}, "crf":
..., "shut_frames": [...]}``. metadata.json is written last: its presence marks
a complete dataset. :func:`cue_table` gives the per-video cue table with the
manifest's video ids.

Modules, by job: ``photos`` (reading the face photos, dlib landmarks),
``identities`` (aligned portraits and their synthetic variants), ``render``
(scenes, frames, low-quality degradation), ``blink`` (blink schedule and
eyelids), ``swap`` (face swap, with or without warping artifacts), ``encode``
(H.264 files) and ``build`` (cue assignment, ``generate_demo_dataset``).
"""

from .build import CUES, cue_table, generate_demo_dataset
from .encode import write_video
from .identities import PORTRAIT, Identity, load_identities
from .photos import face_model_path

__all__ = [
    "CUES",
    "PORTRAIT",
    "Identity",
    "cue_table",
    "face_model_path",
    "generate_demo_dataset",
    "load_identities",
    "write_video",
]
