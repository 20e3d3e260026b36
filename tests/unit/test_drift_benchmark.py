"""The drift benchmark still runs end to end at tiny sizes, and its figures add up."""

from __future__ import annotations

import json

from benchmarks import drift


def test_drift_benchmark_runs_at_tiny_sizes(tmp_path):
    drift.main(["--users", "1", "--items", "32", "--switch-at", "20", "--step", "4", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "drift.json").read_text())
    assert result["command"] == "python -m benchmarks.drift --users 1 --items 32 --switch-at 20 --step 4 --out " + str(
        tmp_path
    )
    by_kind = {row["kind"]: row for row in result["summary"]}
    assert set(by_kind) == {"stable", "rule", "topic"} and by_kind["stable"]["updates"] == 3
    # every update pays 2 calls per item (extraction, reasoning); a full rebuild pays at least that per item
    assert by_kind["stable"]["on_update_calls_mean"] == 2 * 12
    assert by_kind["stable"]["rebuild_calls_mean"] >= 2 * 32
    assert (tmp_path / "drift.md").read_text().startswith("# Drift handling on synthetic users")
