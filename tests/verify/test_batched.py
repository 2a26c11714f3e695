"""Batched verification must equal one-at-a-time scoring on the cached sessions."""

import math

import pytest
import torch

from dreamr.verify.base import VerifyRequest
from dreamr.verify.cpn import CPNVerifier
from dreamr.verify.hybrid import HybridVerifier
from dreamr.verify.likelihood import LikelihoodVerifier
from dreamr.verify.score import ScoreVerifier
from tests.verify.helpers import OTHER_PROBLEM, PROBLEM, make_step, proposal

REQUESTS = [
    VerifyRequest(PROBLEM, (), "She sold 48 clips in April.\n\n"),
    VerifyRequest(
        PROBLEM, ("She sold 48 clips in April.\n\n",), "In May she sold 48 / 2 = 24 clips.\n\n"
    ),
    VerifyRequest(
        PROBLEM, ("She sold 48 clips in April.\n\n",), "In May she sold 48 / 2 = 42 clips.\n\n"
    ),
    VerifyRequest(OTHER_PROBLEM, (), "7 * 3 = 21.\n\n"),
    VerifyRequest(OTHER_PROBLEM, ("7 * 3 = 21.\n\n",), "The answer is \\boxed{21}."),
]


def test_forward_batch_equals_single_rows(tiny_target):
    rows = [
        tiny_target.encode(text)
        for text in ("a b c d e f", "hello", "x = 48 / 2 = 24 and more words")
    ]
    batched = tiny_target.forward_batch(rows)
    for row, logits in zip(rows, batched, strict=True):
        with torch.no_grad():
            alone = tiny_target.model(input_ids=torch.tensor([row])).logits[0].float()
        assert logits.shape == alone.shape
        torch.testing.assert_close(logits, alone, atol=1e-4, rtol=1e-4)


def test_forward_batch_rejects_empty_row(tiny_target):
    with pytest.raises(ValueError, match="empty row"):
        tiny_target.forward_batch([[1, 2], []])


def verifiers():
    return {
        "cpn": lambda: CPNVerifier(alpha=0.5, min_label_mass=0.0),
        "likelihood": lambda: LikelihoodVerifier(alpha=-11.0),
        "likelihood_relative": lambda: LikelihoodVerifier(alpha=-1.0, mode="relative"),
        "likelihood_worst_token": lambda: LikelihoodVerifier(alpha=-3.0, mode="worst_token"),
        "score": lambda: ScoreVerifier(alpha=4.5, min_label_mass=0.0),
        "hybrid": lambda: HybridVerifier(
            CPNVerifier(alpha=0.5, min_label_mass=0.0), LikelihoodVerifier(alpha=-11.0), mode="sum"
        ),
    }


@pytest.mark.parametrize("name", list(verifiers()))
def test_batched_equals_one_at_a_time(tiny_target, name):
    single = verifiers()[name]()
    single.bind(tiny_target)
    one_at_a_time = single.verify_many(REQUESTS, batch_size=1)

    batched = verifiers()[name]()
    batched.bind(tiny_target)
    forwards_before = tiny_target.stats.forward_passes
    in_batches = batched.verify_many(REQUESTS, batch_size=3)
    forwards = tiny_target.stats.forward_passes - forwards_before

    assert len(in_batches) == len(REQUESTS)
    for alone, together in zip(one_at_a_time, in_batches, strict=True):
        assert together.score == pytest.approx(alone.score, abs=1e-4)
        assert together.accept == alone.accept
        assert together.reason == alone.reason
    parts = 2 if name == "hybrid" else 1
    assert forwards == 2 * parts  # 5 requests in batches of 3
    assert batched.stats.judged == len(REQUESTS)


def test_verify_many_rejects_bad_batch_size(tiny_target):
    verifier = LikelihoodVerifier()
    verifier.bind(tiny_target)
    with pytest.raises(ValueError, match="batch_size"):
        verifier.verify_many(REQUESTS, batch_size=0)


def test_forward_batch_on_session_equals_full_forward(tiny_target):
    session = tiny_target.start_raw("Problem: 48 clips in April, half as many in May.\n\n")
    rows = [
        tiny_target.encode(text)
        for text in ("In May 24.", "x", "In May she sold 48 / 2 = 24 clips.")
    ]
    length_before = len(session.ids)
    batched = tiny_target.forward_batch_on_session(session, rows)
    for row, logits in zip(rows, batched, strict=True):
        with torch.no_grad():
            full = tiny_target.model(input_ids=torch.tensor([session.ids + row])).logits[0].float()
        torch.testing.assert_close(logits, full[length_before:], atol=1e-4, rtol=1e-4)
    assert len(session.ids) == length_before
    assert session.cache_len == length_before


PRIOR = ["She sold 48 clips in April.\n\n"]
ALTERNATIVES = ["In May she sold 48 / 2 = 24 clips.\n\n", "In May 42.\n\n", "Total 72.\n\n", ""]


@pytest.mark.parametrize("name", list(verifiers()))
def test_session_batch_equals_one_at_a_time(tiny_target, name):
    verifier = verifiers()[name]()
    verifier.bind(tiny_target)
    prior = [make_step(text) for text in PRIOR]
    texts = ALTERNATIVES if name.startswith("likelihood") else ALTERNATIVES[:-1]
    proposals = [proposal(text, 1) for text in texts]
    session = verifier.open(PROBLEM)
    one_at_a_time = [session.verify(prior, item) for item in proposals]
    forwards_before = tiny_target.stats.forward_passes
    together = session.verify_batch(prior, proposals)
    forwards = tiny_target.stats.forward_passes - forwards_before
    for alone, batched in zip(one_at_a_time, together, strict=True):
        assert batched.reason == alone.reason
        assert batched.accept == alone.accept
        if math.isnan(alone.score):
            assert math.isnan(batched.score)
        else:
            assert batched.score == pytest.approx(alone.score, abs=1e-4)
    assert forwards == (2 if name == "hybrid" else 1)
