"""Precision, recall, acceptance and ROC-AUC of a verifier score against step labels.

A verifier accepts iff ``score > threshold``. For a threshold ``t`` over ``N`` labelled steps
with ``P`` correct ones:

- ``acceptance = #{score > t} / N``;
- ``precision = #{score > t and correct} / #{score > t}`` (NaN when nothing is accepted),
  the share of accepted steps that are correct;
- ``recall = #{score > t and correct} / P``.

A step the verifier could not score (NaN score, a counted failure) is never accepted, which
is what the verifier does with it. ROC-AUC is the probability that a random correct step
scores above a random wrong one, with ties counting one half. It does not depend on the
threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torchmetrics.functional.classification import binary_auroc, binary_roc


@dataclass(frozen=True)
class ThresholdRow:
    """Metrics of ``score > threshold`` on a labelled set."""

    threshold: float
    accepted: int
    precision: float
    recall: float
    acceptance: float


@dataclass
class Curves:
    """All thresholds of one scored set, its ROC-AUC and ROC curve."""

    rows: list[ThresholdRow]
    roc_auc: float
    false_positive_rate: list[float]
    true_positive_rate: list[float]
    positives: int
    negatives: int
    unscored: int  # NaN scores, counted as never accepted


def _ranks(scores: Sequence[float]) -> torch.Tensor:
    """Map scores to [0, 1] by rank, NaN lowest, so torchmetrics sees probabilities.

    ROC depends only on the order of scores. Passing raw scores would make torchmetrics
    apply a sigmoid to values outside [0, 1], which ties large scores in float32.
    """
    values = torch.tensor(
        [(-math.inf if math.isnan(s) else s) for s in scores], dtype=torch.float64
    )
    unique, inverse = torch.unique(values, return_inverse=True)
    return inverse.double() / max(1, len(unique) - 1)


def compute_curves(
    scores: Sequence[float], labels: Sequence[bool], lowest_threshold: float | None = None
) -> Curves:
    """Evaluate every distinct score as a threshold, plus one below all scores.

    ``lowest_threshold`` replaces the threshold below all scores (accept everything) when the
    verifier's ``alpha`` has a lower bound, such as 0 for CPN.
    """
    if len(scores) != len(labels):
        raise ValueError(f"got {len(scores)} scores for {len(labels)} labels")
    positives = sum(bool(label) for label in labels)
    negatives = len(labels) - positives
    finite = sorted({s for s in scores if not math.isnan(s) and s != -math.inf})
    below = (finite[0] - 1.0) if finite else 0.0
    if lowest_threshold is not None:
        below = max(below, lowest_threshold)
    thresholds = [below] + [t for t in finite if t > below]
    rows = [_row(threshold, scores, labels, positives) for threshold in thresholds]

    if positives and negatives:
        target = torch.tensor([int(bool(label)) for label in labels])
        ranks = _ranks(scores)
        roc_auc = float(binary_auroc(ranks, target))
        fpr, tpr, _ = binary_roc(ranks, target)
        fpr_list, tpr_list = fpr.tolist(), tpr.tolist()
    else:
        roc_auc, fpr_list, tpr_list = math.nan, [], []
    unscored = sum(math.isnan(s) for s in scores)
    return Curves(rows, roc_auc, fpr_list, tpr_list, positives, negatives, unscored)


def _row(
    threshold: float, scores: Sequence[float], labels: Sequence[bool], positives: int
) -> ThresholdRow:
    accepted = [
        bool(label) for score, label in zip(scores, labels, strict=True) if score > threshold
    ]
    correct = sum(accepted)
    count = len(accepted)
    return ThresholdRow(
        threshold=threshold,
        accepted=count,
        precision=correct / count if count else math.nan,
        recall=correct / positives if positives else math.nan,
        acceptance=count / len(scores) if scores else math.nan,
    )


def choose_threshold(
    rows: Sequence[ThresholdRow], precision_goal: float, min_accepted: int = 1
) -> ThresholdRow | None:
    """Return the row with the highest acceptance whose precision reaches ``precision_goal``.

    Precision is not monotonic in the threshold, so this scans every row; among equal
    acceptance the lowest threshold wins. Rows accepting fewer than ``min_accepted`` steps
    are skipped, because a precision measured on one or two steps says little. None when no
    row qualifies.
    """
    if min_accepted < 1:
        raise ValueError(f"calibration.min_accepted must be >= 1, got {min_accepted}")
    reached = [
        row for row in rows if row.accepted >= min_accepted and row.precision >= precision_goal
    ]
    if not reached:
        return None
    return max(reached, key=lambda row: (row.acceptance, -row.threshold))
