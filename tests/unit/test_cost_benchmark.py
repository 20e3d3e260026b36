"""The cost benchmark runs end to end at tiny sizes and counts what the presets promise."""

from __future__ import annotations

import json

from benchmarks import cost


def test_cost_benchmark_runs_at_tiny_sizes(tmp_path, capsys):
    cost.main(["--tasks", "lamp5", "--sizes", "3", "--queries", "1", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "cost.json").read_text())
    paper, default = results["rows"]
    assert (paper["preset"], default["preset"]) == ("paper", "default")
    by = paper["build"]["calls_by_stage"]
    assert by["extract"] == by["judge"] == by["reason"] == 3
    assert paper["features"] == 30 and by["assign"] >= 30  # round 1 assigns every feature, one call each
    assert by["residual"] < 30
    assert default["build"]["calls_by_stage"]["judge"] == 0 and default["build_calls_vs_paper"] < 1
    assert paper["query"]["calls"] == default["query"]["calls"] == 2
    assert paper["build"]["dollars"] > 0 and results["paper_cost"]["dollars_per_build"] == 0.0581  # Table 9
    markdown = (tmp_path / "cost.md").read_text()
    assert markdown.startswith("# Cost benchmark\n\nCommand: `python -m benchmarks.cost --tasks lamp5")
    assert "| lamp5 | 3 | paper |" in capsys.readouterr().out


def test_cost_curve_runs_at_tiny_sizes(tmp_path):
    from benchmarks import cost_curve

    results = cost_curve.main(["--sizes", "3,6", "--queries", "1", "--out", str(tmp_path)])
    rows = {(r["config"], r["items"]): r for r in results["rows"]}
    assert set(rows) == {(c, n) for c in cost_curve.CONFIGS for n in (3, 6)}
    for row in rows.values():
        assert abs(row["dollars_batch"] - row["dollars_online"] * 0.5) < 2e-6 and row["query_calls"] == 2
    assert rows[("default + packing (8)", 6)]["calls"] < rows[("default", 6)]["calls"] < rows[("paper", 6)]["calls"]
    assert "| configuration | N |" in (tmp_path / "cost_curve.md").read_text()
