"""Detection by cue: rates and AUCs computed by hand on a small table."""

from __future__ import annotations

import pandas as pd
import pytest

from deepfake_ensemble.errors import InputError
from deepfake_ensemble.evaluate.cues import cue_markdown, cue_rows, cue_table


def videos_and_cues():
    # 2 reals; fakes: f1 artefacts only, f2 no_blink only, f3 both
    videos = pd.DataFrame(
        {
            "video_id": ["r1", "r2", "f1", "f2", "f3"],
            "label": [0, 0, 1, 1, 1],
            "score": [0.1, 0.4, 0.9, 0.3, 0.8],
        }
    )
    cues = pd.DataFrame(
        {
            "video_id": ["r1", "r2", "f1", "f2", "f3"],
            "label": [0, 0, 1, 1, 1],
            "artefacts": [False, False, True, False, True],
            "no_blink": [False, True, False, True, True],
        }
    )
    return videos, cues


def test_rates_and_aucs_by_cue():
    videos, cues = videos_and_cues()
    rows = {(r["cue"], r["with_cue"]): r for r in cue_rows("m", videos, 0.5, cues)}
    # artefacts: with = f1 (0.9), f3 (0.8): both above 0.5 and above every real
    assert rows["artefacts", True]["detection_rate"] == 1.0
    assert rows["artefacts", True]["video_auc"] == 1.0
    # without artefacts = f2 (0.3): missed; ranks above r1 (0.1), below r2 (0.4)
    assert rows["artefacts", False]["detection_rate"] == 0.0
    assert rows["artefacts", False]["video_auc"] == 0.5
    # no_blink: with = f2, f3 -> one of two caught; AUC (2 + 1) / 4
    assert rows["no_blink", True]["detection_rate"] == 0.5
    assert rows["no_blink", True]["video_auc"] == 0.75
    assert rows["no_blink", False]["n_fakes"] == 1
    assert all(r["n_reals"] == 2 for r in rows.values())


def test_table_and_markdown_have_a_line_per_detector():
    videos, cues = videos_and_cues()
    table = cue_table({"a": videos, "b": videos}, {"a": 0.5, "b": None}, cues)
    assert len(table) == 2 * 4
    assert table.loc[table["name"] == "b", "detection_rate"].isna().all()
    md = cue_markdown(table)
    assert md.count("\n| `") == 2 and "artefacts: rate with" in md


def test_no_cues_gives_an_empty_table_and_a_missing_row_is_an_error():
    videos, cues = videos_and_cues()
    assert cue_table({"a": videos}, {"a": 0.5}, None).empty
    with pytest.raises(InputError, match="f3"):
        cue_rows("a", videos, 0.5, cues[cues["video_id"] != "f3"])
