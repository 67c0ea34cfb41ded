"""Evaluate: metrics of each detector, the thirteen ensembles, the summary
and the cross-dataset matrix, without the deep-learning stack.

Environment ``envs/ensemble.yaml``; rules ``evaluate_model``, ``ensemble``,
``ensemble_test`` (and their copies for the ensembles over every member,
``ensemble_every_member`` and ``ensemble_every_member_test``),
``cross_dataset``, ``summarize`` and ``robustness`` (``rules/evaluate.smk``,
``scripts/evaluate/``, one function each in :mod:`.jobs`). Imports only the
core modules of the package.
"""
