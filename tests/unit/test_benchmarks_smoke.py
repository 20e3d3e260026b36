"""The build benchmark still runs end to end (tiny sizes, no timing assertions: the machine is shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import build
from langchain_rpm import LAMP2, FeatureExtractor
from langchain_rpm.testing import FakeStructuredChatModel, demo_responder


@pytest.mark.enable_socket
def test_the_bulk_benchmark_runs_on_a_chroma_server_store():
    """The bulk row on a real `chroma run` (its writes out of this process): every user built, on the server."""
    figures = build.bulk(3, 3, 0.001, 4, isolate=False, server=True)
    assert figures["store"] == "chroma run" and figures["failed_users"] == 0
    assert figures["calls"] == 3 * (2 * 3 + 1 + 1)


def test_build_benchmark_runs_at_tiny_sizes(tmp_path, capsys):
    build.main(
        [
            *("--items", "6", "--delay", "0.001", "--concurrency", "4", "--naive-items", "2"),
            *("--users", "3", "--user-items", "3", "--bulk-delay", "0.001", "--no-isolate"),
            *("--token-items", "6", "--pack-sizes", "1,4", "--out", str(tmp_path)),
        ]
    )
    results = json.loads((tmp_path / "build.json").read_text())
    assert results["command"].startswith("python -m benchmarks.build --items 6")
    assert results["critical_path"]["calls"]["extract"] == 6 and results["critical_path"]["ideal_s"] > 0
    # N extractions + 1 Propose + ceil(4N / 20) Assign calls (4 features per item, batches of 20) + N paths
    assert results["cpu"]["calls"] == results["cpu"]["items"] * 2 + 1 + 2
    assert results["bulk"]["calls"] == 3 * (2 * 3 + 1 + 1) and results["bulk"]["failed_users"] == 0
    assert [row["calls"] for row in results["tokens"]["rows"]] == [6 + 1 + 2 + 6, 2 + 1 + 2 + 2]
    assert results["incremental"]["add_one"]["calls"] == 2
    markdown = (tmp_path / "build.md").read_text()
    assert markdown.startswith("# Build benchmark\n\nCommand: `python -m benchmarks.build")
    assert "| figure |" in markdown and "ideal" in capsys.readouterr().out


def test_packing_responder_answers_each_item_alone():
    model = FakeStructuredChatModel(responder=build.packing_responder(demo_responder))
    extractor = FeatureExtractor(model, LAMP2)
    texts = ["A detective hunts a smuggler.", "A wedding planner falls for a pilot."]
    packed = extractor.invoke_pack(texts)
    assert model.call_count == 1
    assert packed == [extractor.invoke(text) for text in texts]


def test_overhead_benchmark_runs_at_tiny_sizes(tmp_path):
    from benchmarks import overhead

    args = ["--sizes", "4,8", "--profile", "3", "--repeat", "1", "--in-process", "--out", str(tmp_path)]
    results = overhead.main(args)
    assert [(row["items"], row["mode"]) for row in results["rows"]] == [
        (4, "async"),
        (4, "sync"),
        (4, overhead.FROZEN),
        (8, "async"),
        (8, "sync"),
        (8, overhead.FROZEN),
    ]
    assert all(row["calls"] > row["items"] for row in results["rows"]) and results["floors"]["bind_tools_ms"] > 0
    assert "| N | mode |" in (tmp_path / "overhead.md").read_text() and results["profile"]
    # the final commit's share is measured in every row, and is part of the figure
    assert all(0 < row["commit_ms_per_call"] < row["outside_model_ms_per_call"] for row in results["rows"])


def test_overhead_benchmark_measures_a_baseline_tree_in_alternation(tmp_path):
    from pathlib import Path

    from benchmarks import overhead

    tree = Path(overhead.__file__).resolve().parents[1]  # this tree as its own baseline: both columns filled
    results = overhead.scaling([4], 0, repeat=2, fresh=False, baseline=tree) | {"machine": overhead.machine()}
    for row in results["rows"]:
        assert len(row["runs_ms_per_call"]) == len(row["baseline"]["runs_ms_per_call"]) == 2
        assert row["baseline"]["calls"] == row["calls"]  # the same build, run by the other tree's code
    text = overhead.markdown(results | {"baseline_tree": str(tree)}, "python -m benchmarks.overhead")
    assert f"baseline tree `{tree}`" in text and text.count("of 2 pairs |") == 3


def test_query_benchmark_runs_at_tiny_sizes(tmp_path):
    from benchmarks import query

    results = query.main(["--queries", "2", "--delay", "0.001", "--out", str(tmp_path)])
    assert results["cpu"]["sync"]["calls_per_query"] == 2 and results["cpu"]["async"]["calls_per_query"] == 2
    assert results["cpu"]["other_write_sync"]["calls_per_query"] == 2  # the other user's write is not counted
    assert results["cpu"]["own_write_sync"]["calls_per_query"] == 2  # nor the user's own
    assert results["cpu"]["own_write_sync"]["gc_ms"] >= 0 and "(GC " in (tmp_path / "query.md").read_text()
    assert results["cpu"]["store_calls"] == {"repeated": 0, "other_write": 0, "own_write": 0}  # written through
    assert results["first_query"]["after warm_up()"]["warm_up_s"] > 0
    assert "`apersonalize` wall p50" in (tmp_path / "query.md").read_text()
    assert "**issue 21's figure** (async)" in (tmp_path / "query.md").read_text()
    cpu, figure = results["cpu"], results["cpu"]["issue_figure_sync_ms"]["a repeated query"]
    assert figure == round(cpu["sync"]["ours_ms"] - cpu["model_calls_bare"]["sync_ms"], 3)


def test_query_ab_runs_one_pair_in_fresh_processes():
    from benchmarks import query_ab

    tree = Path(query_ab.__file__).resolve().parents[1]  # this tree on both sides: the tool, not a comparison
    [(base, ours)] = query_ab.main(["--base", str(tree), "--pairs", "1", "--queries", "2", "--writes", "2"])
    assert base["tree"] == ours["tree"] == str(tree) and ours["calls_sync"] > 0
    assert set(query_ab.KEYS) <= set(ours) and ours["issue_sync"] == round(
        ours["ours_sync"] - ours["bare"]["sync_ms"], 3
    )
    assert set(query_ab.WRITE_KEYS) <= set(ours) and ours["calls_own_sync"] > 0 and ours["gc_own_sync"] >= 0


def test_ingest_benchmark_runs_at_tiny_sizes(tmp_path):
    from benchmarks import ingest

    results = ingest.main(["--users", "3", "--per-user", "2", "--grown", "20", "--group", "2", "--out", str(tmp_path)])
    assert results["shared_layout"]["group_records_per_s"] > 0 and results["raw_add_records_per_s"] > 0
    assert results["per_user_layout"]["write_grown_cpu_ms"] > 0
    assert "raw `collection.add`" in (tmp_path / "ingest.md").read_text()
