"""dreamr-reason with the concurrent schedulers: records, errors and timelines on tiny models."""

import json

import pytest

from dreamr.reason import run_reason
from tests.test_reason import read_results, tiny_config


@pytest.mark.parametrize("scheduler", ["fpsr", "lookahead"])
def test_reason_runs_scheduler_and_draws_timeline(tmp_path, scheduler):
    summary = run_reason(
        tiny_config(
            tmp_path,
            f"scheduler={scheduler}",
            "verifier.min_label_mass=0",
            "timeline_ids=[gsm8k-0001]",
        )
    )
    records = read_results(tmp_path)
    assert [r["scheduler"] for r in records] == [scheduler, scheduler]
    assert all(r["error"] is None for r in records)
    assert summary["errors"] == 0
    assert (tmp_path / "timelines" / f"gsm8k-0001.{scheduler}.png").stat().st_size > 0
    assert not (tmp_path / "timelines" / f"gsm8k-0000.{scheduler}.png").exists()
    traces = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    kinds = {event["kind"] for trace in traces for event in trace["events"]}
    assert {"draft_start", "draft_end", "verify_start", "verify_end", "commit"} <= kinds


def test_failing_worker_is_recorded_as_problem_error(tmp_path, monkeypatch):
    def broken_verify(self, prior_steps, proposal):
        raise RuntimeError("judge exploded")

    monkeypatch.setattr("dreamr.verify.cpn._CPNSession.verify", broken_verify)
    summary = run_reason(
        tiny_config(
            tmp_path, "scheduler=fpsr", "scheduler.placement=threads", "compare_baseline=false"
        )
    )
    records = read_results(tmp_path)
    assert len(records) == 2
    assert all("judge exploded" in r["error"] for r in records)
    assert summary["errors"] == 2
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert sum(e["kind"] == "problem" for e in errors) == 2


def test_token_speculation_keeps_greedy_output(tmp_path):
    plain = tmp_path / "plain"
    assisted = tmp_path / "assisted"
    run_reason(tiny_config(plain, "scheduler=target_only", "data.limit=1"))
    run_reason(
        tiny_config(assisted, "scheduler=target_only", "data.limit=1", "token_speculation=true")
    )
    plain_steps = [step["text"] for step in read_results(plain)[0]["steps"]]
    assisted_steps = [step["text"] for step in read_results(assisted)[0]["steps"]]
    assert assisted_steps == plain_steps
