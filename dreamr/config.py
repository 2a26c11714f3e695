"""Start-of-run validation of the composed Hydra config.

Hydra already rejects unknown keys and unknown group options. This module checks values:
one ``ConfigError`` lists every problem with its override path, the value given and the
values allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

LOGGER_MODES = ("online", "offline", "disabled")
DTYPES = ("bfloat16", "float16", "float32")


class ConfigError(ValueError):
    """The configuration has invalid values; the message lists each one."""


def _get(cfg: DictConfig, path: str) -> Any:
    return OmegaConf.select(cfg, path, default=None)


def validate_reason_config(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` listing every invalid value of a ``dreamr-reason`` config."""
    problems: list[str] = []

    def check(path: str, ok: Callable[[Any], bool], allowed: str) -> None:
        value = _get(cfg, path)
        try:
            valid = ok(value)
        except TypeError:
            valid = False
        if not valid:
            problems.append(f"{path}={value!r}: expected {allowed}")

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    check("limits.max_step_tokens", lambda v: is_int(v) and v >= 1, "an integer >= 1")
    check("limits.max_new_tokens", lambda v: is_int(v) and v >= 1, "an integer >= 1")
    check("limits.max_steps", lambda v: is_int(v) and v >= 1, "an integer >= 1")
    check("limits.delimiter", lambda v: isinstance(v, str) and v != "", "a non-empty string")
    check(
        "limits.answer_marker",
        lambda v: v is None or (isinstance(v, str) and v != ""),
        "a non-empty string or null",
    )
    check("sampling.temperature", lambda v: v >= 0, "a number >= 0 (0 is greedy)")
    check("sampling.top_p", lambda v: 0 < v <= 1, "a number in (0, 1]")
    check("dtype", lambda v: v in DTYPES, f"one of {list(DTYPES)}")
    check("logger.mode", lambda v: v in LOGGER_MODES, f"one of {list(LOGGER_MODES)}")
    check("data.limit", lambda v: v is None or (is_int(v) and v >= 1), "null or an integer >= 1")
    check("compare_baseline", lambda v: isinstance(v, bool), "true or false")
    check("token_speculation", lambda v: v is None or isinstance(v, bool), "true or false")
    check("num_assistant_tokens", lambda v: v is None or (is_int(v) and v >= 1), "an integer >= 1")
    check(
        "timeline_ids",
        lambda v: v is None or all(isinstance(item, str) for item in v),
        "a list of problem ids",
    )
    check("resume", lambda v: isinstance(v, bool), "true or false")
    if _get(cfg, "verifier") is not None and _get(cfg, "verifier.alpha") is not None:
        _check_alpha(cfg, problems)
    scheduler_target = str(_get(cfg, "scheduler._target_") or "")
    if not scheduler_target.endswith("TargetOnlyScheduler"):
        if _get(cfg, "model.draft") is None:
            problems.append("model.draft=None: a speculative scheduler needs a draft model")
        if _get(cfg, "verifier") is None:
            problems.append("verifier=None: a speculative scheduler needs a verifier")

    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems))


def _check_alpha(cfg: DictConfig, problems: list[str]) -> None:
    """Check ``verifier.alpha`` against the range its verifier class allows (or ``auto``)."""
    from hydra.utils import get_class

    value = _get(cfg, "verifier.alpha")
    try:
        verifier_class = get_class(str(_get(cfg, "verifier._target_")))
    except Exception:  # an unknown class fails later, at instantiation, with Hydra's message
        return
    alpha_problem = getattr(verifier_class, "alpha_problem", None)
    allowed = alpha_problem(value) if alpha_problem is not None else None
    if allowed is not None:
        problems.append(f"verifier.alpha={value!r}: expected {allowed}")
