"""``dreamr-bench``: every scheduler on the same problems and models in one process run."""
