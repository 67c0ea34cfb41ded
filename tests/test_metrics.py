import json
import math

import numpy as np
import pandas as pd
import pytest

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.metrics import (
    defined,
    eer,
    evaluate,
    evaluate_video_scores,
    plot_confusion,
    plot_roc,
    roc_points,
    video_scores,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def frames(rows):
    """rows: (video_id, label, [frame scores])."""
    out = []
    for vid, label, scores in rows:
        for i, s in enumerate(scores):
            out.append((vid, i * 5, label, s))
    return pd.DataFrame(out, columns=["video_id", "frame_index", "label", "score"])


@pytest.fixture
def hand():
    # video scores: r1 0.2, r2 0.7, f1 0.9, f2 0.3, f3 0.7
    return frames(
        [
            ("demo/r1", 0, [0.1, 0.3]),
            ("demo/r2", 0, [0.6, 0.8]),
            ("demo/f1", 1, [0.9]),
            ("demo/f2", 1, [0.4, 0.2]),
            ("demo/f3", 1, [0.8, 0.6]),
        ]
    )


def pairwise_auc(y, s):
    y, s = np.asarray(y), np.asarray(s)
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return wins.mean()


def test_video_scores_are_mean_frame_scores(hand):
    v = video_scores(hand)
    assert list(v.columns) == ["video_id", "label", "score", "n_frames"]
    v = v.set_index("video_id")
    assert v.loc["demo/r1", "score"] == pytest.approx(0.2)
    assert v.loc["demo/f2", "score"] == pytest.approx(0.3)
    assert v.loc["demo/f1", "n_frames"] == 1
    assert v.loc["demo/f3", "label"] == 1
    assert v.loc["demo/r2", "label"] == 0


def test_video_with_two_labels_is_an_error_naming_it(hand):
    hand.loc[hand.index[-1], "label"] = 0
    with pytest.raises(InputError, match="demo/f3"):
        video_scores(hand)


def test_nan_score_is_an_error_naming_the_row(hand):
    hand.loc[3, "score"] = np.nan
    with pytest.raises(InputError, match=r"row 3 .*demo/r2"):
        evaluate(hand)


def test_missing_column_is_named(hand):
    with pytest.raises(InputError, match="score"):
        evaluate(hand.drop(columns="score"))


def test_evaluate_hand_case(hand):
    m = evaluate(hand)
    # positives 0.9, 0.3, 0.7 vs negatives 0.2, 0.7: 4 wins + 1 tie of 6
    assert m["video_auc"] == pytest.approx(4.5 / 6)
    # threshold 0.5 (score above it = fake): r1 real, r2 fake, f1 fake,
    # f2 real, f3 fake -> tn 1, fp 1, fn 1, tp 2
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(1 / 2)
    expected_ll = -np.mean(np.log([0.8, 0.3, 0.9, 0.3, 0.7]))
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert m["frame_auc"] == pytest.approx(pairwise_auc(hand["label"], hand["score"]))
    assert m["frame_accuracy"] == pytest.approx(5 / 9)
    assert (m["n_frames"], m["n_videos"]) == (9, 5)
    for key in (
        "average_precision",
        "eer",
        "frame_average_precision",
        "frame_eer",
        "frame_log_loss",
    ):
        assert 0 <= m[key] <= (1 if "log_loss" not in key else 10)


def test_eer_hand_cases():
    # fpr = fnr = 0.5 at threshold 0.6
    assert eer([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]) == pytest.approx(0.5)
    # one of three negatives above the positive: the ROC jumps from
    # (fpr 1/3, fnr 1) to (1/3, 0); the crossing is at 1/3
    assert eer([0, 0, 0, 1], [0.1, 0.2, 0.8, 0.5]) == pytest.approx(1 / 3)
    assert eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(0.0)
    assert eer([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)


def test_one_class_gives_none_not_a_crash():
    df = frames([("demo/f1", 1, [0.9, 0.7]), ("demo/f2", 1, [0.2])])
    m = evaluate(df)
    for key in ("frame_auc", "video_auc", "eer", "average_precision", "frame_eer"):
        assert m[key] is None
    assert m["specificity"] is None
    assert m["sensitivity"] == pytest.approx(0.5)
    assert m["confusion_matrix"] == [[0, 0], [1, 1]]
    assert math.isfinite(m["log_loss"])
    assert roc_points(df).empty
    # undefined is None everywhere (JSON null), never NaN
    assert "NaN" not in json.dumps(m) and "null" in json.dumps(m)
    v = evaluate_video_scores(video_scores(df)[["video_id", "label", "score"]])
    assert v["video_auc"] is None and v["eer"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (math.nan, None),
        (np.float64("nan"), None),
        (math.inf, None),
        (0.75, 0.75),
        (np.float32(0.5), 0.5),
        (1, 1.0),
    ],
)
def test_defined_maps_undefined_metrics_to_none(value, expected):
    got = defined(value)
    assert got == expected
    assert got is None or type(got) is float


def test_log_loss_is_clipped():
    v = pd.DataFrame({"video_id": ["a", "b"], "label": [0, 1], "score": [1.0, 1.0]})
    m = evaluate_video_scores(v)
    assert m["log_loss"] == pytest.approx(-np.log(1e-7) / 2, rel=1e-6)


def test_score_outside_unit_interval_is_rejected(hand):
    hand.loc[0, "score"] = 1.5
    with pytest.raises(InputError, match="outside"):
        evaluate(hand)


def test_roc_points_levels(hand):
    video = roc_points(hand, "video")
    frame = roc_points(hand, "frame")
    assert list(video.columns) == ["fpr", "tpr", "threshold"]
    assert video["fpr"].iloc[-1] == 1 and video["tpr"].iloc[-1] == 1
    assert np.all(np.diff(frame["fpr"]) >= 0)
    with pytest.raises(ValueError):
        roc_points(hand, "clip")


def test_plots_write_png(tmp_path, hand):
    other = hand.assign(score=1 - hand["score"])
    plot_roc({"a": hand, "b": other}, tmp_path / "roc.png", level="video")
    plot_roc({"a": hand}, tmp_path / "roc_frame.png", level="frame", title="t")
    plot_confusion([[1, 1], [1, 2]], tmp_path / "sub" / "cm.png", title="cm")
    for name in ("roc.png", "roc_frame.png", "sub/cm.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    with pytest.raises(ValueError):
        plot_confusion([[1, 2, 3]], tmp_path / "bad.png")
