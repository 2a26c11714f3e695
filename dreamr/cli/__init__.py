"""Hydra entry points. They stay thin: each composes a config and calls one library function."""

from pathlib import Path

# The configs live at the repository's top level (``conf/``), next to the package folder;
# dreamr is installed in editable mode so this path exists.
# TODO: ship conf/ inside wheels so non-editable installs find it too.
CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")
