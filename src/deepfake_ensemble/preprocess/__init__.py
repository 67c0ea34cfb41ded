"""Preprocess: frame sampling and face cropping per video, in batches, packed
into HDF5 shards per dataset and split.

Environment ``envs/preprocess.yaml``; rules ``preprocess_batch``,
``pack_shards`` and ``preprocess_report`` (``rules/preprocess.smk``,
``scripts/preprocess/``, one function each in :mod:`.jobs`). Imports only the
core modules of the package.
"""
