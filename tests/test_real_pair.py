"""The real default pair (Qwen2.5-Coder 0.5B draft, 1.5B target) on 2 GSM8K problems."""

import json

from hydra import compose, initialize_config_dir

from dreamr.reason import run_reason
from tests.conftest import CONF


def test_real_pair_two_problems_end_to_end(tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "reason",
            overrides=[
                f"output_dir={tmp_path}",
                "data.limit=2",
                "compare_baseline=false",
                "logger=disabled",
                # A short budget keeps this under two minutes on 2 cores; answers may be cut off.
                "limits.max_new_tokens=96",
                "limits.max_step_tokens=48",
            ],
        )
    summary = run_reason(cfg)
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["gsm8k-0000", "gsm8k-0001"]
    assert all(r["error"] is None for r in records)
    assert summary["problems"] == 2
    assert summary["proposals"] >= 2
    for record in records:
        text = "".join(step["text"] for step in record["steps"])
        # Real models write English about the problem, unlike the random tiny ones.
        assert any(word in text.lower() for word in ("the", "we", "first"))
        for step in record["steps"]:
            assert 0.0 <= step["score"] <= 1.0
