"""The bulk A/B benchmark runs one pair in fresh processes (tiny size, no timing assertions: the machine is shared)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import bulk_ab


def test_bulk_ab_runs_one_pair_and_splits_the_lost_slot_time(tmp_path):
    tree = Path(bulk_ab.__file__).resolve().parents[1]  # this tree on both sides: the tool, not a comparison
    bulk_ab.main(["--baseline", str(tree), "--pairs", "1", "--users", "2", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "bulk_ab.json").read_text())
    for name in ("branch", "baseline"):
        [row] = results["rows"][name]
        assert row["failed_users"] == 0 and row["calls"] > 0 and 0 < row["vs_bound"] <= 1.0
        assert row["overrun_ms_per_call"] >= 0 and row["outside_ms_per_call"] > 0
    assert "| vs_bound |" in (tmp_path / "bulk_ab.md").read_text()
