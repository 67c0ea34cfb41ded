"""Evaluation protocols: which datasets each model trains on, and is tested on.

``evaluation.protocol`` in the config chooses one:

* ``pooled`` (the study's): one training set, every dataset's train split
  together, named ``pooled``; one test set, every dataset's test split
  together, also named ``pooled``;
* ``cross_dataset``: one training set per dataset *A* (its train split,
  validated on its val split), named as the dataset; one test set per
  dataset *B* (its test split), named as the dataset: every detector and
  ensemble trained on *A* is tested on every *B*;
* ``leave_one_out``: one training set per dataset *B*, every dataset but
  *B*, named ``without_<B>``; tested on every dataset's test split (*B* is
  its one cross-domain target, the others are in domain).

A cell (training set, test set) is *in domain* when the test set's datasets
all belong to the training set. Validation (checkpoints, thresholds, ensemble
fits, member choice) always uses the validation split of the training set's
own datasets, never the target's.

Standard library only: ``rules/common.smk``, the rules' code and the tests
read the same facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import InputError

POOLED = "pooled"
PROTOCOLS: tuple[str, ...] = (POOLED, "cross_dataset", "leave_one_out")
#: training set name of leave-one-out without dataset ``d``: ``without_<d>``
LOO_PREFIX = "without_"


def _check(protocol: str, datasets: Sequence[str]) -> list[str]:
    names = [str(d) for d in datasets]
    if protocol not in PROTOCOLS:
        raise InputError(
            f"evaluation.protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}"
        )
    if not names:
        raise InputError("no dataset is configured")
    dup = sorted({d for d in names if names.count(d) > 1})
    if dup:
        raise InputError(f"dataset name {dup[0]!r} is used twice")
    if protocol != POOLED and len(names) < 2:
        raise InputError(
            f"evaluation.protocol {protocol} needs at least two datasets "
            f"(configured: {', '.join(names)})"
        )
    return names


def train_sets(protocol: str, datasets: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Training set name -> the datasets whose train (and val) split it uses."""
    names = _check(protocol, datasets)
    if protocol == POOLED:
        return {POOLED: tuple(names)}
    if protocol == "cross_dataset":
        return {d: (d,) for d in names}
    return {f"{LOO_PREFIX}{d}": tuple(x for x in names if x != d) for d in names}


def target_sets(protocol: str, datasets: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Test set name -> the datasets whose test split it holds."""
    names = _check(protocol, datasets)
    if protocol == POOLED:
        return {POOLED: tuple(names)}
    return {d: (d,) for d in names}


def in_domain(train_datasets: Sequence[str], test_datasets: Sequence[str]) -> bool:
    """Whether every dataset of a test set is one the model was trained on."""
    return set(test_datasets) <= set(train_datasets)


def cells(
    train: Mapping[str, Sequence[str]], test: Mapping[str, Sequence[str]]
) -> list[tuple[str, str, bool]]:
    """Every (training set, test set, in domain) of the matrix, in order."""
    return [(t, s, in_domain(train[t], test[s])) for t in train for s in test]


def target_datasets(test: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Every dataset some test set holds, in config order (no repeats)."""
    return tuple(dict.fromkeys(d for ds in test.values() for d in ds))
