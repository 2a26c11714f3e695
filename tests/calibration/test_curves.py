import math

import pytest

from dreamr.calibration.curves import choose_threshold, compute_curves

# Scores of 3 correct and 3 wrong steps; the NaN is a verifier failure on a wrong step.
SCORES = [0.9, 0.8, 0.4, 0.6, 0.3, math.nan]
LABELS = [True, True, True, False, False, False]


def test_rows_match_hand_counts():
    curves = compute_curves(SCORES, LABELS)
    by_threshold = {row.threshold: row for row in curves.rows}
    # Thresholds: below all (accept all scored), then each distinct finite score.
    assert sorted(by_threshold) == [-0.7, 0.3, 0.4, 0.6, 0.8, 0.9]
    row = by_threshold[0.4]  # accepts 0.9, 0.8, 0.6
    assert row.accepted == 3
    assert row.precision == pytest.approx(2 / 3)
    assert row.recall == pytest.approx(2 / 3)
    assert row.acceptance == pytest.approx(3 / 6)
    everything = by_threshold[-0.7]  # the NaN is never accepted
    assert everything.accepted == 5
    assert everything.recall == 1.0
    assert math.isnan(by_threshold[0.9].precision)


def test_roc_auc_matches_pair_count():
    # Correct vs wrong pairs ranked right: 0.9 and 0.8 beat all 3; 0.4 beats 0.3 and NaN.
    curves = compute_curves(SCORES, LABELS)
    assert curves.roc_auc == pytest.approx((3 + 3 + 2) / 9)
    assert curves.unscored == 1


def test_roc_auc_ignores_score_scale():
    # Scores far outside [0, 1] must not saturate (torchmetrics would apply a sigmoid).
    curves = compute_curves([40.0, 30.0, 20.0, 10.0], [True, True, False, False])
    assert curves.roc_auc == pytest.approx(1.0)


def test_choose_threshold_maximizes_acceptance_at_precision():
    curves = compute_curves(SCORES, LABELS)
    chosen = choose_threshold(curves.rows, precision_goal=0.99)
    assert chosen.threshold == 0.6
    assert chosen.acceptance == pytest.approx(2 / 6)
    lenient = choose_threshold(curves.rows, precision_goal=0.7)  # 3 of 4 accepted are correct
    assert lenient.threshold == 0.3
    assert choose_threshold(compute_curves([0.1, 0.9], [True, False]).rows, 0.99) is None


def test_lowest_threshold_respects_alpha_bound():
    curves = compute_curves([0.2, 0.7], [True, False], lowest_threshold=0.0)
    assert curves.rows[0].threshold == 0.0
    assert curves.rows[0].accepted == 2


def test_single_class_has_no_auc():
    assert math.isnan(compute_curves([0.1, 0.2], [True, True]).roc_auc)


def test_min_accepted_skips_thin_thresholds():
    # Only the top score (one correct step) reaches precision 1.0.
    curves = compute_curves([0.9, 0.8, 0.7, 0.6], [True, False, True, False])
    assert choose_threshold(curves.rows, 1.0).accepted == 1
    assert choose_threshold(curves.rows, 1.0, min_accepted=2) is None
    assert choose_threshold(curves.rows, 0.6, min_accepted=2).accepted == 3
    with pytest.raises(ValueError, match="min_accepted"):
        choose_threshold(curves.rows, 0.9, min_accepted=0)
