"""Check command-line overrides before Hydra runs, so an unknown key names the keys allowed.

Hydra rejects an unknown key with "Key 'alfa' is not in struct" but does not say which keys
exist there; this check does, and exits with status 2 before any model loads.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

logger = logging.getLogger(__name__)


class OverrideError(ValueError):
    """A command-line override names a key the config does not have."""


def _split(argument: str) -> tuple[str, str] | None:
    """Return ``(key, value)`` of a plain ``key=value`` override, or None for anything else."""
    if argument.startswith(("-", "+", "~")) or "=" not in argument:
        return None
    key, value = argument.split("=", 1)
    if key.startswith("hydra.") or key == "hydra" or "@" in key:
        return None
    return key, value


def unknown_key_message(cfg: DictConfig, key: str) -> str | None:
    """Describe why ``key`` is not in ``cfg``, listing the keys allowed at its parent, or None."""
    parts = key.split(".")
    node = cfg
    for depth, part in enumerate(parts):
        if not isinstance(node, DictConfig):
            return None  # a key below a list or a value: let Hydra report it
        if part not in node:
            parent = ".".join(parts[:depth]) or "the top level"
            allowed = ", ".join(sorted(str(k) for k in node.keys())) or "(none)"
            return (
                f"Unknown config key '{key}': '{part}' is not a key of {parent}. "
                f"Keys there: {allowed}. To add a new key on purpose, write +{key}=..."
            )
        node = node[part]
    return None


def check_overrides(config_dir: str | Path, config_name: str, arguments: list[str]) -> None:
    """Raise ``OverrideError`` for the first plain override whose key the composed config lacks.

    Group choices (``verifier=cpn``) are applied first, so keys that a chosen group or
    experiment adds count as known. Anything this check cannot judge is left to Hydra.
    """
    config_dir = Path(config_dir)
    plain = [pair for pair in map(_split, arguments) if pair is not None]
    groups = [
        f"{key}={value}" for key, value in plain if (config_dir / key.replace(".", "/")).is_dir()
    ]
    keys = [key for key, _ in plain if not (config_dir / key.replace(".", "/")).is_dir()]
    if not keys:
        return
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            cfg = compose(config_name, overrides=groups)
    except (HydraException, OmegaConfBaseException):
        return  # an invalid group choice: Hydra's own message lists the options
    OmegaConf.set_struct(cfg, False)
    for key in keys:
        message = unknown_key_message(cfg, key)
        if message is not None:
            raise OverrideError(message)
