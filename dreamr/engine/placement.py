"""Where a concurrent scheduler runs its workers: at once on their own hardware, or in turn.

Overlapping draft and target work pays only when the two do not compete for the same
compute. This was measured on a 2-core CPU with the Qwen2.5-Coder 0.5B/1.5B pair (bf16,
transformers 5.25, torch 2.13). A draft step beside a target check with one core each took
5.2 s, against 3.7 s for the two in turn with both cores. A second live OpenMP thread team
also slowed every 2-thread op by about 20%. So ``plan_placement`` picks:

- ``threads`` with no probe when draft and target sit on different CUDA devices, or on one
  CUDA device (each worker then gets its own CUDA stream);
- on a CPU, a short probe: the draft and the target each decode ``probe_tokens`` tokens,
  first in turn with the whole thread budget, then at once with the budget split between
  them, ``probe_rounds`` times, keeping the fastest makespan of each kind. ``threads`` wins
  only when the overlapped makespan beats the serial one by at least ``min_gain``;
  otherwise ``serial``: every task runs in the caller's thread, in the order that wastes no
  work, which is the ``sequential`` scheduler's order.

Two tasks sharing one thread budget cannot finish together in less than half the time they
take in turn with the whole budget, unless adding threads slowed them down. A probe gain
above ``MAX_PLAUSIBLE_GAIN`` is therefore taken as noise from other load on the machine,
and the plan falls back to ``serial``, which is never slower than ``sequential``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from enum import Enum

import torch

from dreamr.models.backend import Backend
from dreamr.steps import StepLimits

logger = logging.getLogger(__name__)

WORKERS = ("draft", "verify", "target")
MAX_PLAUSIBLE_GAIN = 0.5
PROBE_TEXT = "Natalia sold clips to 48 of her friends in April, and then she sold half as many"


class PlacementMode(str, Enum):  # noqa: UP042 - the types.py enums use the same form
    """Mode of sharing the hardware between the workers of a concurrent scheduler."""

    AUTO = "auto"
    SERIAL = "serial"
    THREADS = "threads"


@dataclass(frozen=True)
class OverlapProbe:
    """Makespans of the probe workload: in turn with all threads, and at once with split threads."""

    serial_s: float
    overlapped_s: float

    @property
    def gain(self) -> float:
        """Fraction of the serial makespan that overlapping saves (negative when it loses)."""
        return 1.0 - self.overlapped_s / self.serial_s if self.serial_s > 0 else 0.0


@dataclass(frozen=True)
class Placement:
    """The decision: the mode, torch threads per worker (CPU) and why."""

    mode: PlacementMode
    threads: dict[str, int | None]
    reason: str
    probe: OverlapProbe | None = None

    @property
    def concurrent(self) -> bool:
        return self.mode is PlacementMode.THREADS


def split_threads(
    total: int, requested: dict[str, int | None] | None = None
) -> dict[str, int | None]:
    """Torch threads per worker out of ``total``; explicit values in ``requested`` win.

    Unset workers share what the set ones leave: the target (fallback writer) gets half of
    it, the draft and the verifier a quarter each, every worker at least one thread.
    """
    requested = dict(requested or {})
    unknown = set(requested) - set(WORKERS)
    if unknown:
        raise ValueError(
            f"threads: unknown workers {sorted(unknown)}; expected keys among {list(WORKERS)}"
        )
    for worker, value in requested.items():
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"threads.{worker}={value!r}: expected null or an integer >= 1")
    fixed = sum(value for value in requested.values() if value)
    left = max(total - fixed, 0)
    shares = {"target": 0.5, "draft": 0.25, "verify": 0.25}
    return {
        worker: requested.get(worker) or max(1, round(left * shares[worker])) for worker in WORKERS
    }


def probe_overlap(
    draft: Backend,
    target: Backend,
    threads: dict[str, int | None],
    probe_tokens: int,
    rounds: int = 2,
) -> OverlapProbe:
    """Time the draft and target decoding ``probe_tokens`` tokens in turn, then at once,
    ``rounds`` times alternating; return the fastest makespan of each kind."""
    limits = StepLimits(delimiter="\x00", answer_marker=None, max_step_tokens=probe_tokens)

    def decode(backend: Backend, tokens: int) -> None:
        session = backend.start_raw(PROBE_TEXT, label="placement-probe")
        backend.generate_step(session, limits, tokens)

    # Warm up both models so one-off allocation does not count.
    decode(draft, 2)
    decode(target, 2)
    serial_s = overlapped_s = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        decode(draft, probe_tokens)
        decode(target, probe_tokens)
        serial_s = min(serial_s, time.perf_counter() - start)
        overlapped_s = min(
            overlapped_s, _overlapped_s(draft, target, threads, decode, probe_tokens)
        )
    return OverlapProbe(serial_s, overlapped_s)


def _overlapped_s(draft: Backend, target: Backend, threads, decode, probe_tokens: int) -> float:
    errors: list[BaseException] = []

    def worker(backend: Backend, num_threads: int | None) -> None:
        try:
            torch.set_grad_enabled(False)
            if num_threads:
                torch.set_num_threads(num_threads)
            decode(backend, probe_tokens)
        except Exception as error:  # re-raised in the caller below
            errors.append(error)

    workers = [
        threading.Thread(target=worker, args=(draft, threads["draft"]), name="probe-draft"),
        threading.Thread(target=worker, args=(target, threads["target"]), name="probe-target"),
    ]
    start = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=600)
    overlapped_s = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"placement probe failed: {errors[0]!r}") from errors[0]
    if any(thread.is_alive() for thread in workers):
        raise TimeoutError("placement probe did not finish within 600 s")
    return overlapped_s


def plan_placement(
    mode: PlacementMode | str,
    draft: Backend,
    target: Backend,
    threads: dict[str, int | None] | None = None,
    probe_tokens: int = 8,
    min_gain: float = 0.05,
    probe_rounds: int = 2,
) -> Placement:
    """Decide how draft, verifier and target workers share the hardware (see the module doc)."""
    mode = PlacementMode(mode)
    total = torch.get_num_threads()
    split = split_threads(total, threads)
    if mode is PlacementMode.SERIAL:
        return Placement(
            mode, {worker: None for worker in WORKERS}, "placement=serial was requested"
        )
    if mode is PlacementMode.THREADS:
        return Placement(mode, split, "placement=threads was requested")

    draft_device, target_device = _device_of(draft), _device_of(target)
    if draft_device.type == "cuda" and target_device.type == "cuda":
        where = (
            "separate CUDA devices"
            if draft_device != target_device
            else "one CUDA device, a stream per worker"
        )
        return Placement(PlacementMode.THREADS, {worker: None for worker in WORKERS}, where)
    if draft_device != target_device:
        return Placement(
            PlacementMode.THREADS, split, f"draft on {draft_device}, target on {target_device}"
        )

    probe = probe_overlap(draft, target, split, probe_tokens, probe_rounds)
    plausible = probe.gain <= MAX_PLAUSIBLE_GAIN
    verdict = plausible and probe.gain >= min_gain
    reason = (
        f"CPU probe with {total} threads ({split['draft']} draft + {split['target']} target when overlapped): "
        f"in turn {probe.serial_s:.2f} s, overlapped {probe.overlapped_s:.2f} s, gain {probe.gain:+.1%} "
        f"{'>=' if probe.gain >= min_gain else '<'} min_gain {min_gain:.0%}"
    )
    if not plausible:
        reason += f"; a gain above {MAX_PLAUSIBLE_GAIN:.0%} means other load disturbed the probe, so serial"
        logger.warning("FPSR placement probe looks disturbed: %s", reason)
    chosen = PlacementMode.THREADS if verdict else PlacementMode.SERIAL
    threads_out = split if verdict else {worker: None for worker in WORKERS}
    return Placement(chosen, threads_out, reason, probe)


def _device_of(backend: Backend) -> torch.device:
    device = getattr(backend, "device", None)
    return torch.device(device) if device is not None else torch.device("cpu")
