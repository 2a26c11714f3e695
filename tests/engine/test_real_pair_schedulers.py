"""The schedulers on the real default pair: the same commits under the CPN verifier."""

import pytest
from hydra.utils import instantiate

from dreamr.data.problems import GSM8KSource
from dreamr.engine.base import ReasoningContext
from dreamr.engine.fpsr import FPSRScheduler
from dreamr.engine.lookahead import LookaheadScheduler
from dreamr.engine.sequential import SequentialScheduler
from dreamr.engine.timeline import commits_off_committed_prefix
from dreamr.models.loading import build_backend
from dreamr.steps import StepLimits
from dreamr.verify.cpn import CPNVerifier
from tests.conftest import model_source

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_context():
    target = build_backend(model_source("target", "qwen2.5-coder-1.5b"), dtype="bfloat16")
    draft = build_backend(model_source("draft", "qwen2.5-coder-0.5b"), dtype="bfloat16")
    verifier = CPNVerifier()
    verifier.bind(target)
    # A short budget keeps each run near half a minute on 2 cores.
    limits = StepLimits(max_step_tokens=40, max_new_tokens=80)
    return ReasoningContext(target=target, draft=draft, verifier=verifier, limits=limits)


def test_real_pair_schedulers_commit_alike(real_context):
    problem = (
        instantiate({"_target_": GSM8KSource.__module__ + ".GSM8KSource", "limit": 1})
        .load()
        .problems[0]
    )
    sequential = SequentialScheduler().run(problem, real_context)
    fpsr_scheduler = FPSRScheduler()
    fpsr = fpsr_scheduler.run(problem, real_context)
    lookahead = LookaheadScheduler(window=2).run(problem, real_context)
    expected = [step.text for step in sequential.steps]
    assert [step.text for step in fpsr.steps] == expected
    assert [step.text for step in lookahead.steps] == expected
    assert commits_off_committed_prefix(fpsr.trace) == []
    assert fpsr_scheduler.plan is not None
