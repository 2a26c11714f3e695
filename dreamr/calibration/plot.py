"""The calibration plot: precision, recall and acceptance per threshold, and the ROC curve."""

from __future__ import annotations

from pathlib import Path

from dreamr.calibration.curves import Curves, ThresholdRow


def plot_calibration(
    curves: Curves, chosen: ThresholdRow | None, verifier: str, path: Path
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (threshold_axis, roc_axis) = plt.subplots(1, 2, figsize=(11, 4))
    thresholds = [row.threshold for row in curves.rows]
    threshold_axis.plot(thresholds, [row.precision for row in curves.rows], label="precision")
    threshold_axis.plot(thresholds, [row.recall for row in curves.rows], label="recall")
    threshold_axis.plot(thresholds, [row.acceptance for row in curves.rows], label="acceptance")
    if chosen is not None:
        threshold_axis.axvline(
            chosen.threshold, color="black", linestyle="--", label=f"chosen {chosen.threshold:.3g}"
        )
    threshold_axis.set_xlabel(f"{verifier} threshold (accept iff score > threshold)")
    threshold_axis.set_ylim(-0.02, 1.02)
    threshold_axis.legend(loc="best")

    roc_axis.plot(
        curves.false_positive_rate, curves.true_positive_rate, label=f"ROC-AUC {curves.roc_auc:.3f}"
    )
    roc_axis.plot([0, 1], [0, 1], color="#999999", linestyle=":")
    roc_axis.set_xlabel("false positive rate (wrong steps accepted)")
    roc_axis.set_ylabel("true positive rate (correct steps accepted)")
    roc_axis.legend(loc="lower right")
    figure.suptitle(f"{verifier}: {curves.positives} correct and {curves.negatives} wrong steps")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
