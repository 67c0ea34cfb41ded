"""Evaluation on the whole split: no-face videos, groups, thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.videos import (
    complete_videos,
    evaluate_on_split,
    evaluation_config,
    merged_groups,
    read_split_videos,
    split_videos,
    threshold_report,
)


def split_table() -> pd.DataFrame:
    return split_videos(
        pd.DataFrame(
            {
                "video_id": ["d/a", "d/b", "d/c", "d/d", "d/e"],
                "label": ["0", "1", "1", "0", "1"],
                "group": ["d/g1", "d/g1", "d/g2", "", "d/g2"],
                "dataset": "d",
            }
        )
    )


def scored() -> pd.DataFrame:
    # d/c and d/e: no face found, no score
    return pd.DataFrame(
        {
            "video_id": ["d/a", "d/b", "d/d"],
            "label": [0, 1, 0],
            "score": [0.2, 0.9, 0.7],
        }
    )


def test_no_face_videos_score_half_by_default():
    table, n = complete_videos(scored(), split_table())
    assert n == 2
    assert list(table["video_id"]) == ["d/a", "d/b", "d/c", "d/d", "d/e"]
    assert list(table["score"]) == [0.2, 0.9, 0.5, 0.7, 0.5]
    assert list(table["no_face"]) == [False, False, True, False, True]
    # an empty group in the split list: the video is its own group
    assert list(table["group"]) == ["d/g1", "d/g1", "d/g2", "d/d", "d/g2"]


def test_no_face_videos_excluded_on_request():
    table, n = complete_videos(scored(), split_table(), policy="exclude")
    assert n == 2 and list(table["video_id"]) == ["d/a", "d/b", "d/d"]
    frames = scored().assign(frame_index=0)
    m, _ = evaluate_on_split(frames, split=split_table(), cfg={"no_face": "exclude"})
    assert (m["n_videos"], m["n_no_face"], m["no_face_policy"]) == (3, 2, "exclude")
    m, _ = evaluate_on_split(frames, split=split_table())
    assert (m["n_videos"], m["n_no_face"], m["n_frames"]) == (5, 2, 3)
    assert m["n_groups"] == 3
    # a fake scored 0.5 is called real at the 0.5 threshold: charged
    assert m["confusion_matrix"] == [[1, 1], [2, 1]]


def test_predictions_of_another_split_or_label_are_errors():
    stray = pd.concat(
        [scored(), pd.DataFrame({"video_id": ["d/z"], "label": [1], "score": [0.4]})]
    )
    with pytest.raises(InputError, match="'d/z' is not in the split list"):
        complete_videos(stray, split_table())
    flipped = scored().assign(label=[1, 1, 0])
    with pytest.raises(InputError, match="'d/a' has label 1, the split list says 0"):
        complete_videos(flipped, split_table())


def test_config_and_split_file(tmp_path):
    assert evaluation_config(None)["no_face"] == "score"
    with pytest.raises(InputError, match="no_face"):
        evaluation_config({"no_face": "drop"})
    with pytest.raises(InputError, match="no_face_score"):
        evaluation_config({"no_face_score": 2})
    path = tmp_path / "test.csv"
    pd.DataFrame(
        {"video_id": ["x/1", "x/2"], "label": [0, 1], "group": ["x/g", "x/g"]}
    ).to_csv(path, index=False)
    back = read_split_videos(path)
    assert list(back["dataset"]) == ["x", "x"] and list(back["group"]) == ["x/g"] * 2


def test_threshold_report_uses_validation_only():
    val = pd.DataFrame({"label": [0, 0, 1, 1], "score": [0.6, 0.7, 0.8, 0.9]})
    test = pd.DataFrame({"label": [0, 1, 1, 1], "score": [0.65, 0.72, 0.9, 0.95]})
    rep = threshold_report(val, test, "youden")
    assert rep["val_threshold"] == pytest.approx(0.75)
    assert rep["accuracy_at_val_threshold"] == 0.75
    assert rep["balanced_accuracy_at_val_threshold"] == pytest.approx(5 / 6)
    assert rep["specificity_at_val_threshold"] == 1.0


def test_groups_sharing_a_person_are_merged_across_the_split():
    # Celeb-DF names: a fake id0_id16 carries its target id0 and source id16
    table = pd.DataFrame(
        {
            "video_id": [
                "c/id0_0000",
                "c/id0_id16_0000",
                "c/id16_0001",
                "c/id3_0000",
                "c/yt_00001",
                "c/id5_id3_0002",
            ],
            "label": ["0", "1", "0", "0", "0", "1"],
            "group": ["c/id0", "c/id0", "c/id16", "c/id3", "", "c/id5"],
            "identity": ["c/id0", "c/id0", "c/id16", "c/id3", "", "c/id5"],
            "source_identity": ["", "c/id16", "", "", "", "c/id3"],
        }
    )
    out = split_videos(table).set_index("video_id")
    assert out["unmerged_group"].nunique() == 5
    # id0 and id16 join through the fake; id3 and id5 through the other
    assert out.loc["c/id16_0001", "group"] == out.loc["c/id0_0000", "group"] == "c/id0"
    assert out.loc["c/id5_id3_0002", "group"] == out.loc["c/id3_0000", "group"]
    assert out.loc["c/yt_00001", "group"] == "c/yt_00001"  # its own, unnamed
    assert out["group"].nunique() == 3
    # transitively: a chain of sources merges everything it touches
    chain = merged_groups(
        np.array(["a", "b", "c", "d"]),
        [np.array(["a", "b", "c", "d"]), np.array(["b", "c", "", ""])],
    )
    assert list(chain) == ["a", "a", "a", "d"]
    # without identities the groups stay as listed
    plain = split_videos(table.drop(columns=["identity", "source_identity"]))
    assert (plain["group"] == plain["unmerged_group"]).all()
