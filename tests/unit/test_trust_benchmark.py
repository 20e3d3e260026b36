"""The trust part of ``python -m benchmarks.reliability`` still runs (tiny sizes; the figures are the benchmark's)."""

from __future__ import annotations

from benchmarks import trust


def test_forget_check_runs_and_reports_the_marker_bytes():
    figures = trust.forget_check(2)
    assert figures["marker_bytes_before"] > 0 and figures["marker_bytes_after"] == 0
    assert (
        figures["rebuild_calls_after_forget"] == figures["first_build_calls"] == 2 * 2 + 2
    )  # extract + reason per item, Propose, Assign
    text = "\n".join(trust.markdown({"trust_command": "x", "concurrency": [], "forget": figures}))
    assert "## Forget" in text and "0 after" in text
