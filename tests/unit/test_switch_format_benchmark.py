"""The switch-format benchmark still runs end to end (tiny sizes, no timing assertions: the machine is shared)."""

from __future__ import annotations

import json

from benchmarks import switch_format
from langchain_rpm.store._records import stored_texts


def test_switch_format_benchmark_runs_at_tiny_sizes(tmp_path):
    switch_format.main(["--users", "2", "--per-user", "3", "--repeats", "1", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "switch_format.json").read_text())
    assert set(results["manifests_and_profiles"]) == set(switch_format.FORMATS)
    assert all(ms > 0 for case in results["manifests_only"].values() for ms in case.values())
    assert (tmp_path / "switch_format.md").read_text().startswith("# Switch-record format")


def test_both_formats_store_the_same_json():
    """The benchmark's frozen older encoding and today's read back to the same texts."""
    profile = switch_format.demo_rpm().profile("ada")
    for encode in switch_format.FORMATS.values():
        record = encode("ada", ["r2", "r1"], profile)
        assert sorted(stored_texts(record).values()) == sorted(['{"ids": ["r1", "r2"]}', profile.model_dump_json()])
