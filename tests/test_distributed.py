"""Problems spread over DDP ranks through the real CLI end up in one results.jsonl."""

import json
import subprocess
import sys

from tests.conftest import REPO


def test_ddp_two_ranks_write_one_results_file(tmp_path):
    run_dir = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "dreamr.cli.reason",
        "experiment=tiny",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "data.limit=5",
        f"hydra.run.dir={run_dir}",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ids = [json.loads(line)["id"] for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert sorted(ids) == [f"gsm8k-000{i}" for i in range(5)]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["problems"] == 5
    assert summary["baseline_problems"] == 5
