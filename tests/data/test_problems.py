import json

import pytest

from dreamr.data.problems import GSM8KSource, JsonlSource


def test_gsm8k_has_100_problems_with_gold_answers():
    loaded = GSM8KSource().load()
    assert len(loaded.problems) == 100
    assert loaded.errors == []
    first = loaded.problems[0]
    assert first.id == "gsm8k-0000"
    assert first.answer == "10"
    assert first.question.startswith("Benny saw a 10-foot shark")


def test_gsm8k_limit_and_ids():
    assert [p.id for p in GSM8KSource(limit=3).load().problems] == [
        "gsm8k-0000",
        "gsm8k-0001",
        "gsm8k-0002",
    ]
    chosen = GSM8KSource(ids=["gsm8k-0042", "gsm8k-0007"]).load().problems
    assert {p.id for p in chosen} == {"gsm8k-0042", "gsm8k-0007"}


def test_gsm8k_unknown_id_raises():
    with pytest.raises(ValueError, match="gsm8k-9999"):
        GSM8KSource(ids=["gsm8k-9999"]).load()


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_records_malformed_line_and_keeps_others(tmp_path):
    path = write_lines(
        tmp_path / "p.jsonl",
        [
            json.dumps({"id": "a", "question": "1+1?", "answer": "2"}),
            '{"id": "b", "question": ',
            json.dumps({"id": "c", "question": "2+2?", "answer": 4}),
        ],
    )
    loaded = JsonlSource(str(path)).load()
    assert [p.id for p in loaded.problems] == ["a", "c"]
    assert loaded.problems[1].answer == "4"
    assert len(loaded.errors) == 1
    assert loaded.errors[0].line == 2


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": "e", "question": "   "}, "empty or missing 'question'"),
        ({"question": "q"}, "missing 'id'"),
        ({"id": "x", "question": "q", "image": "a.png"}, "unknown fields"),
        ({"id": "x", "question": "q", "images": "a.png"}, "list of paths"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_jsonl_invalid_records_are_recorded(tmp_path, record, message):
    path = write_lines(
        tmp_path / "p.jsonl", [json.dumps({"id": "ok", "question": "q"}), json.dumps(record)]
    )
    loaded = JsonlSource(str(path)).load()
    assert [p.id for p in loaded.problems] == ["ok"]
    assert loaded.errors[0].line == 2
    assert message in loaded.errors[0].message


def test_jsonl_duplicate_id_is_recorded(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [json.dumps({"id": "a", "question": "q"})] * 2)
    loaded = JsonlSource(str(path)).load()
    assert len(loaded.problems) == 1
    assert "duplicate id" in loaded.errors[0].message


def test_jsonl_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        JsonlSource(str(tmp_path / "missing.jsonl")).load()
