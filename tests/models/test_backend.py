import threading

import pytest
import torch

from dreamr.steps import StepLimits
from dreamr.types import StopReason

PROMPT = [{"role": "user", "content": "Natalia sold clips to 48 of her friends in April."}]


def hf_greedy(backend, messages, new_tokens: int) -> list[int]:
    ids = backend.encode(backend.render_chat(messages))
    output = backend.model.generate(
        torch.tensor([ids]),
        max_new_tokens=new_tokens,
        do_sample=False,
        eos_token_id=None,
        pad_token_id=0,
    )
    return output[0, len(ids) :].tolist()


def test_steps_concatenate_to_hf_greedy_output(tiny_target):
    limits = StepLimits(answer_marker=None)
    session = tiny_target.start(PROMPT)
    for _ in range(4):
        step = tiny_target.generate_step(session, limits, max_tokens=6)
        assert step.stop_reason in (StopReason.MAX_STEP_TOKENS, StopReason.DELIMITER)
    generated = session.ids[session.prompt_len :]
    assert generated == hf_greedy(tiny_target, PROMPT, len(generated))


def test_step_stops_right_after_delimiter(tiny_target):
    reference = tiny_target.tokenizer.decode(hf_greedy(tiny_target, PROMPT, 12))
    delimiter = reference[10:13]  # any text the model will write; the step must end there
    session = tiny_target.start(PROMPT)
    step = tiny_target.generate_step(
        session, StepLimits(delimiter=delimiter, answer_marker=None), 40
    )
    assert step.stop_reason is StopReason.DELIMITER
    assert delimiter in step.text
    assert reference.startswith(step.text)
    assert delimiter not in tiny_target.tokenizer.decode(step.token_ids[:-1])


def test_step_stops_at_eos_inside_step(make_tiny_backend):
    backend = make_tiny_backend(seed=2)
    greedy = hf_greedy(backend, PROMPT, 8)
    eos_backend = make_tiny_backend(seed=2, extra_eos_token_ids=(greedy[4],))
    first = greedy.index(greedy[4])  # the token may occur earlier too
    session = eos_backend.start(PROMPT)
    step = eos_backend.generate_step(session, StepLimits(answer_marker=None), 20)
    assert step.stop_reason is StopReason.EOS
    assert list(step.token_ids) == greedy[: first + 1]
    assert step.ends_trajectory


def test_step_stops_at_max_step_tokens(tiny_target):
    session = tiny_target.start(PROMPT)
    step = tiny_target.generate_step(
        session, StepLimits(delimiter="\u2400never", answer_marker=None), 5
    )
    assert step.stop_reason is StopReason.MAX_STEP_TOKENS
    assert step.num_tokens == 5


def test_truncate_and_append_match_fresh_session(tiny_target):
    limits = StepLimits(answer_marker=None)
    session = tiny_target.start(PROMPT)
    first = tiny_target.generate_step(session, limits, 5)
    mark = len(session.ids)
    tiny_target.generate_step(session, limits, 5)
    tiny_target.truncate(session, mark)
    tiny_target.append_text(session, " forty-eight")
    resumed = tiny_target.generate_step(session, limits, 5)

    fresh = tiny_target.start(PROMPT)
    tiny_target.append_text(fresh, first.text + " forty-eight")
    expected = tiny_target.generate_step(fresh, limits, 5)
    assert resumed.token_ids == expected.token_ids


def test_truncate_below_prompt_raises(tiny_target):
    session = tiny_target.start(PROMPT)
    with pytest.raises(ValueError, match="below its prompt"):
        tiny_target.truncate(session, session.prompt_len - 1)


def test_next_token_logprobs_match_full_forward_and_keep_session(tiny_target):
    session = tiny_target.start(PROMPT)
    tiny_target.generate_step(session, StepLimits(answer_marker=None), 4)
    ids_before = list(session.ids)
    suffix = " Is it correct?"
    scored = tiny_target.next_token_logprobs(session, suffix)

    full = torch.tensor([session.ids + tiny_target.encode(suffix)])
    with torch.no_grad():
        logits = tiny_target.model(input_ids=full).logits[0, -1].float()
    torch.testing.assert_close(scored, torch.log_softmax(logits, -1), atol=1e-4, rtol=1e-4)
    assert session.ids == ids_before
    assert session.cache_len == len(ids_before)


def test_token_logprobs_match_full_forward(tiny_target):
    session = tiny_target.start(PROMPT)
    continuation = " She sold 24 in May."
    scored = tiny_target.token_logprobs(session, continuation)
    ids = tiny_target.encode(continuation)
    full = torch.tensor([session.ids + ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(tiny_target.model(input_ids=full).logits[0].float(), -1)
    start = len(session.ids) - 1
    expected = logprobs[start : start + len(ids)].gather(1, torch.tensor(ids)[:, None])[:, 0]
    torch.testing.assert_close(scored, expected, atol=1e-4, rtol=1e-4)


def test_cancel_stops_generation_before_next_token(tiny_target):
    cancel = threading.Event()
    cancel.set()
    session = tiny_target.start(PROMPT)
    step = tiny_target.generate_step(session, StepLimits(), 10, cancel=cancel)
    assert step.stop_reason is StopReason.CANCELLED
    assert step.num_tokens == 0


def test_fork_is_independent(tiny_target):
    limits = StepLimits(answer_marker=None)
    session = tiny_target.start(PROMPT)
    tiny_target.generate_step(session, limits, 3)
    fork = tiny_target.fork(session)
    a = tiny_target.generate_step(session, limits, 4)
    b = tiny_target.generate_step(fork, limits, 4)
    assert a.token_ids == b.token_ids
    assert session.ids == fork.ids


SOLUTION_STEPS = [
    "Natalia sold 48 clips in April.\n\n",
    "In May she sold half as many: 48 / 2 = 24 clips.\n\n",
    "Altogether: 48 + 24 = 72.\n\n",
    "So the answer is \\boxed{72}.",
]


def test_stepwise_tokenization_matches_whole_text(qwen_tokenizer):
    whole = qwen_tokenizer("".join(SOLUTION_STEPS), add_special_tokens=False)["input_ids"]
    stepwise = []
    for step in SOLUTION_STEPS:
        stepwise.extend(qwen_tokenizer(step, add_special_tokens=False)["input_ids"])
    assert stepwise == whole


def test_sampling_is_reproducible_per_problem(make_tiny_backend):
    from dreamr.models.backend import SamplingConfig

    backend = make_tiny_backend(seed=2, sampling=SamplingConfig(temperature=1.0, top_p=0.9, seed=3))
    limits = StepLimits(answer_marker=None)
    first = backend.generate_step(backend.start(PROMPT, label="p1"), limits, 8)
    again = backend.generate_step(backend.start(PROMPT, label="p1"), limits, 8)
    other = backend.generate_step(backend.start(PROMPT, label="p2"), limits, 8)
    assert first.token_ids == again.token_ids
    assert first.token_ids != other.token_ids
