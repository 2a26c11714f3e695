"""Threshold calibration: labelled steps, per-threshold curves and saved thresholds."""
