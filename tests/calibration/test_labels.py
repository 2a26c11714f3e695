import random

from dreamr.calibration.labels import (
    champ_examples,
    corrupt_step,
    gsm8k_examples,
    gsm8k_steps,
    load_gsm8k_problems,
    split_with_offsets,
)
from dreamr.types import Problem

WORKED = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72"


def test_gsm8k_steps_drop_annotations_and_answer_line():
    assert gsm8k_steps(WORKED) == [
        "Natalia sold 48/2 = 24 clips in May.\n\n",
        "Natalia sold 48+24 = 72 clips.\n\n",
    ]


def test_corruption_changes_one_number_or_operation():
    step = "Natalia sold 48+24 = 72 clips.\n\n"
    kinds = set()
    for seed in range(40):
        corrupted = corrupt_step(step, random.Random(seed))
        assert corrupted is not None
        wrong, kind = corrupted
        kinds.add(kind)
        assert wrong != step
        if kind == "corrupted_operation":
            assert wrong == "Natalia sold 48-24 = 72 clips.\n\n"
        else:
            assert wrong.replace("48", "", 1) != step.replace("48", "", 1) or "48" not in wrong
    assert kinds == {"corrupted_number", "corrupted_operation"}


def test_step_without_numbers_is_not_corrupted():
    assert corrupt_step("Let us think about it.\n\n", random.Random(0)) is None


def test_gsm8k_examples_pair_each_step_with_its_corruption():
    problem = Problem("g", "Natalia?", "72", metadata={"solution": WORKED})
    examples = gsm8k_examples([problem], seed=0)
    assert [e.label for e in examples] == [True, False, True, False]
    assert examples[2].request.prior_steps == ("Natalia sold 48/2 = 24 clips in May.\n\n",)
    assert examples[3].request.prior_steps == examples[2].request.prior_steps
    assert examples == gsm8k_examples([problem], seed=0)  # reproducible


def test_gsm8k_problems_come_from_the_offset():
    problems = load_gsm8k_problems(2, 50)
    assert [p.id for p in problems] == ["gsm8k-0050", "gsm8k-0051"]


def test_split_with_offsets_indexes_text():
    text = "a b\n\nc d\n\n\n\ne"
    pieces = split_with_offsets(text)
    assert [piece for piece, _, _ in pieces] == ["a b\n\n", "c d\n\n", "e"]
    for piece, start, end in pieces:
        assert text[start:end] == piece


def test_champ_examples_end_at_first_wrong_step():
    examples = champ_examples(solutions=3, max_positives=2)
    wrong = [e for e in examples if not e.label]
    assert len(wrong) == 3
    assert all(e.source == "champ" for e in examples)
    for example in examples:
        assert example.request.problem.id.startswith("champ-P_")
        assert example.request.proposal.strip()
    # Per solution: at most 2 correct steps, then the wrong one, whose prior steps contain them.
    by_problem = {}
    for example in examples:
        by_problem.setdefault(example.request.problem.id, []).append(example)
    for group in by_problem.values():
        assert [e.label for e in group][-1] is False
        assert sum(e.label for e in group) <= 2
        wrong_prior = group[-1].request.prior_steps
        for correct in group[:-1]:
            assert correct.request.proposal in wrong_prior
