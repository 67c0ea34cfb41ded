"""Evaluate: metrics of each detector, the thirteen ensembles, the summary
and the cross-dataset matrix, without the deep-learning stack.

Environment ``envs/ensemble.yaml``; rules ``evaluate_model``, ``ensemble``,
``ensemble_test``, ``cross_dataset`` and ``summarize``
(``rules/evaluate.smk``, ``scripts/evaluate/``, one function each in
:mod:`.jobs`). Imports only the core modules of the package.
"""
