"""The query-surfaces A/B benchmark runs one pair in fresh processes (tiny size, no timing assertions)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import surfaces_ab


def test_surfaces_ab_times_every_surface_on_both_trees(tmp_path):
    tree = Path(surfaces_ab.__file__).resolve().parents[1]  # this tree on both sides: the tool, not a comparison
    surfaces_ab.main(
        ["--baseline", str(tree), "--pairs", "1", "--updates", "2", "--calls", "2", "--out", str(tmp_path)]
    )
    results = json.loads((tmp_path / "surfaces_ab.json").read_text())
    for name in ("branch", "baseline"):
        [row] = results["rows"][name]
        assert row["drift_records"] == 2 and row["profile_kb"] > 0
        assert all(row[surface] > 0 for surface in surfaces_ab.SURFACES)
    assert "| middleware |" in (tmp_path / "surfaces_ab.md").read_text()
