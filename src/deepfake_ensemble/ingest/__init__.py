"""Ingest: dataset roots -> one manifest -> train/val/test splits, and the
generated demo datasets.

Environment ``envs/preprocess.yaml``; rules ``generate_demo``, ``ingest`` and
``split`` (``rules/ingest.smk``, ``scripts/ingest/``, one function each in
:mod:`.jobs`). Imports only the core modules of the package.
"""
