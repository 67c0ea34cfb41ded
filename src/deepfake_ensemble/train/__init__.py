"""Train: the four detectors, their pretrained weights, training and
prediction.

Environment ``envs/train.yaml``; rules ``fetch_weights``,
``fetch_weights_file``, ``train`` and ``predict`` (``rules/train.smk``,
``scripts/train/``, one function each in :mod:`.jobs`). Imports the core
modules, :mod:`..preprocess` (the shards it reads) and
:mod:`..evaluate.metrics`. :mod:`.checkpoint` is the one module that reads
``torch`` files.
"""
