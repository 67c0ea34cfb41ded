"""Ensembles of the single detectors: hard voting, soft voting, stacking.

The study combines the frame scores of two or four single models (members):

* hard voting: each member votes "fake" when its score is above 0.5; the
  ensemble score is the fraction of members voting fake, the study's rule
  (variants of ours: a tie-break by the mean score, and members calibrated
  on validation before voting);
* soft voting: a weighted mean of member scores, the weights found by a
  seeded random search over Dirichlet draws that maximises validation AUC
  (the study used DeepStack's ``DirichletEnsemble``; this is a NumPy
  re-implementation of the same idea);
* stacking (an addition of this project): a logistic-regression meta-learner
  on the members' validation scores.

Members are chosen on validation performance (``best2``), on checkpoint size
(``small2``) or all four (``all``). Member predictions are aligned on
``(video_id, frame_index)`` explicitly: frames missing for a member are
dropped and counted, label disagreements and unrelated splits are errors.

The ensembles themselves (name -> rule, method) and the files an ensemble
writes are listed in :mod:`deepfake_ensemble.layout`. Modules:

* :mod:`.alignment` - reading, checking and aligning member predictions;
* :mod:`.combine` - hard and soft voting, the Dirichlet weight search, AUCs;
* :mod:`.calibration` - Platt or isotonic calibration of members (scikit-learn);
* :mod:`.crossfit` - out-of-fold validation scores, folds by group;
* :mod:`.stacking` - the logistic-regression meta-learner;
* :mod:`.selection` - ranking on validation and choosing the members;
* :mod:`.build` - one whole ensemble, its metrics and its files;
* :mod:`.fitted` - a fitted ensemble as plain parameters, applied to new
  member scores (scoring new videos with an exported bundle).

Only NumPy, pandas and scikit-learn are needed (no deep-learning library).
"""

from deepfake_ensemble.evaluate.ensemble.alignment import (
    KEY,
    MIN_VIDEO_OVERLAP,
    align,
    load_predictions,
    video_means,
)
from deepfake_ensemble.evaluate.ensemble.build import (
    apply_ensemble,
    build_ensemble,
    ensemble_metrics,
    read_ensemble_fit,
    write_ensemble_fit,
    write_ensemble_outputs,
    write_ensemble_test,
)
from deepfake_ensemble.evaluate.ensemble.calibration import (
    CALIBRATION_METHODS,
    calibrate,
    calibrate_members,
    fit_calibrator,
    fit_member_calibrators,
)
from deepfake_ensemble.evaluate.ensemble.combine import (
    auc_columns,
    auc_rows,
    dirichlet_search,
    hard_vote,
    hard_vote_tiebreak,
    soft_vote,
)
from deepfake_ensemble.evaluate.ensemble.crossfit import (
    FIT_MODES,
    IN_SAMPLE,
    NO_FIT,
    OUT_OF_FOLD,
    crossfit,
    group_folds,
)
from deepfake_ensemble.evaluate.ensemble.fitted import (
    apply_fitted,
    calibrate_params,
    calibrator_params,
    ensemble_video_scores,
)
from deepfake_ensemble.evaluate.ensemble.selection import (
    SELECTION_RULES,
    rank_by_validation,
    select_members,
)
from deepfake_ensemble.evaluate.ensemble.stacking import (
    LOGIT_EPS,
    stacked_fit,
    stacked_predict,
)

__all__ = [
    "CALIBRATION_METHODS",
    "FIT_MODES",
    "IN_SAMPLE",
    "KEY",
    "NO_FIT",
    "OUT_OF_FOLD",
    "LOGIT_EPS",
    "MIN_VIDEO_OVERLAP",
    "SELECTION_RULES",
    "align",
    "apply_ensemble",
    "apply_fitted",
    "auc_columns",
    "auc_rows",
    "build_ensemble",
    "calibrate",
    "calibrate_params",
    "calibrator_params",
    "calibrate_members",
    "crossfit",
    "dirichlet_search",
    "ensemble_metrics",
    "ensemble_video_scores",
    "fit_calibrator",
    "fit_member_calibrators",
    "group_folds",
    "hard_vote",
    "hard_vote_tiebreak",
    "load_predictions",
    "read_ensemble_fit",
    "rank_by_validation",
    "select_members",
    "soft_vote",
    "stacked_fit",
    "stacked_predict",
    "video_means",
    "write_ensemble_fit",
    "write_ensemble_outputs",
    "write_ensemble_test",
]
