"""Bundle: the trained members and ensembles as one checked folder, scoring
new videos with it, and the ``deepfake-ensemble`` command.

Rules ``bundle`` (``envs/train.yaml``) and ``score_videos``,
``score_preprocess``, ``score_shards``, ``score_predict``, ``score`` (each in
the environment of the step it runs: preprocess, train or ensemble)
(``rules/bundle.smk``, ``scripts/bundle/``, one function each in :mod:`.jobs`).
Its modules import only what all three environments install at import, and
the other stages inside functions.
"""
