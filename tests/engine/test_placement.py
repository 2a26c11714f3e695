"""Placement of FPSR's workers: thread split, forced modes, device rules and the CPU probe."""

from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_dir

from dreamr.engine.placement import OverlapProbe, PlacementMode, plan_placement, split_threads
from tests.conftest import CONF


def test_split_threads_shares_the_budget():
    assert split_threads(16) == {"draft": 4, "verify": 4, "target": 8}
    assert split_threads(2) == {"draft": 1, "verify": 1, "target": 1}
    assert split_threads(16, {"draft": 2}) == {"draft": 2, "verify": 4, "target": 7}


def test_split_threads_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown workers"):
        split_threads(4, {"judge": 1})
    with pytest.raises(ValueError, match="threads.draft=0"):
        split_threads(4, {"draft": 0})


def test_forced_modes_skip_the_probe(tiny_target, tiny_draft):
    serial = plan_placement("serial", tiny_draft, tiny_target)
    assert serial.mode is PlacementMode.SERIAL
    assert serial.probe is None
    threads = plan_placement("threads", tiny_draft, tiny_target, {"target": 3})
    assert threads.mode is PlacementMode.THREADS
    assert threads.threads["target"] == 3


@pytest.mark.parametrize(
    ("draft_device", "target_device", "reason"),
    [("cuda:1", "cuda:0", "separate CUDA devices"), ("cuda:0", "cuda:0", "a stream per worker")],
)
def test_cuda_devices_run_threads_without_probe(draft_device, target_device, reason):
    # Only .device is read for this decision, so plain objects stand in for GPU backends.
    draft = SimpleNamespace(device=torch.device(draft_device))
    target = SimpleNamespace(device=torch.device(target_device))
    plan = plan_placement("auto", draft, target)
    assert plan.mode is PlacementMode.THREADS
    assert reason in plan.reason
    assert plan.probe is None


def test_cpu_probe_decides_by_gain(tiny_target, tiny_draft):
    plan = plan_placement("auto", tiny_draft, tiny_target, probe_tokens=4, min_gain=0.99)
    assert plan.probe is not None
    assert plan.probe.serial_s > 0
    assert plan.probe.overlapped_s > 0
    # No overlap can save 99% of the serial time, so the probe must pick serial.
    assert plan.mode is PlacementMode.SERIAL
    assert "gain" in plan.reason


def test_bench_gpu_preset_composes():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("bench", overrides=["experiment=bench-gpu", "output_dir=/tmp/unused"])
    assert cfg.devices.target == "cuda:0"
    assert cfg.model.target.hidden_size == 3584
    assert cfg.model.draft.hidden_size == 896
    assert cfg.verifier._target_.endswith("RateVerifier")
    assert cfg.fixed_step_tokens == 64


def test_implausible_probe_gain_falls_back_to_serial(tiny_target, tiny_draft, monkeypatch):
    # Two tasks sharing one thread budget cannot finish 90% faster together than in turn.
    monkeypatch.setattr(
        "dreamr.engine.placement.probe_overlap",
        lambda *args: OverlapProbe(serial_s=10.0, overlapped_s=1.0),
    )
    plan = plan_placement("auto", tiny_draft, tiny_target)
    assert plan.mode is PlacementMode.SERIAL
    assert "disturbed" in plan.reason
