"""The index-build benchmark runs at a tiny size (no timing assertions: the machine is shared)."""

from __future__ import annotations

import json

from benchmarks import index_build


def test_index_build_measures_the_stall_and_the_recall_of_each_index(tmp_path):
    index_build.main(["--adds", "2", "--size", "60", "--big", "60", "--queries", "3", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "index_build.json").read_text())
    assert [row["stored"] for row in result["stall"]] == [0, 60]
    assert all(row["add_wall_ms"] > 0 and row["thread_cpu_ms"] > 0 for row in result["stall"])
    rows = {(row["vectors"], row["ef_construction"], row["ef_search"]): row for row in result["index"]}
    assert set(rows) == {(kind, *pair) for kind in ("clustered", "uniform") for pair in index_build.SETTINGS}
    assert all(0 <= row["recall_at_8"] <= 1 for row in rows.values())
    assert "| clustered | 40, 400 |" in (tmp_path / "index_build.md").read_text()
