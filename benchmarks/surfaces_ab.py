"""Query surfaces A/B: the retriever, the agent tool and the middleware for a long-lived user, this tree vs another.

Run: ``python -m benchmarks.surfaces_ab --baseline /tmp/main`` (``git archive <sha> | tar -x -C /tmp/main``
first; writes ``benchmarks/results/surfaces_ab.{json,md}``). Each side runs in a fresh process whose
``langchain_rpm`` comes from its tree, with the same virtual environment; which side goes first alternates by
pair. A side builds the demo user (``langchain_rpm.testing.demo_rpm``: the offline demo model, fake
embeddings), updates them ``--updates`` times (one new item each: the drift monitor adds a record to the
profile each time, as for a user who keeps using the product), then times ``--calls`` calls of each surface
in 5 interleaved rounds (a figure is the median round): our CPU per call (``process_time``, the demo model's
and the fake embedding's included, the same on both sides).

- ``retriever``: ``RPMRetriever.invoke`` with ``retrieval="query"`` (no LLM call);
- ``tool``: the agent tool in ``"examples"`` mode (one LLM call, the query's features);
- ``middleware``: the block for a message the middleware has seen (an agent's second model call of a turn);
- ``personalize``: ``RPM.personalize`` (two LLM calls), the direct path, as a control.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.overhead import in_tree, machine

RESULTS = Path(__file__).parent / "results"
SURFACES = ("retriever", "tool", "middleware", "personalize")
QUERY = "The strap broke on the second day."
ROUNDS = 5  # each surface's calls are timed in this many rounds, interleaved; a figure is the median round


def measure(updates: int, calls: int) -> dict[str, Any]:
    """One side: build, update, then CPU ms per call of each surface, and the stored profile's size."""
    from langchain_rpm import RPMRetriever
    from langchain_rpm.agents.middleware import RPMMiddleware
    from langchain_rpm.agents.tools import create_rpm_tool
    from langchain_rpm.testing import demo_rpm

    rpm = demo_rpm()
    for n in range(updates):
        rpm.add_interactions(
            "ada", [{"id": f"new-{n}", "input": f"Strap {n} snapped on day {n % 7}.", "response": "2"}]
        )
    retriever = RPMRetriever(components=rpm.components, user_id="ada", retrieval="query")
    tool = create_rpm_tool(rpm, mode="examples")
    middleware = RPMMiddleware(rpm)
    config = {"configurable": {"user_id": "ada"}}
    run = {
        "retriever": lambda: retriever.invoke(QUERY),
        "tool": lambda: tool.invoke({"query": QUERY}, config=config),
        "middleware": lambda: middleware.personal_block("ada", QUERY),
        "personalize": lambda: rpm.personalize("ada", QUERY),
    }
    figures: dict[str, Any] = {"profile_kb": len(rpm.profile("ada").model_dump_json()) / 1024}
    figures["drift_records"] = len(rpm.profile("ada").drift)
    for name in SURFACES:
        for _ in range(5):
            run[name]()  # warm: collections open, the query cache holds the user, the middleware its block
    rounds: dict[str, list[float]] = {name: [] for name in SURFACES}
    for _ in range(ROUNDS):  # the surfaces in turn, so a burst of the machine's noise falls on all of them
        for name in SURFACES:
            start = time.process_time()
            for _ in range(max(1, calls // ROUNDS)):
                run[name]()
            rounds[name].append((time.process_time() - start) / max(1, calls // ROUNDS) * 1000)
    figures |= {name: statistics.median(times) for name, times in rounds.items()}
    return figures


def side(tree: Path, updates: int, calls: int) -> dict[str, Any]:
    """:func:`measure` with the code of ``tree``, in a fresh process."""
    code = "import json, sys; from benchmarks.surfaces_ab import measure; print(json.dumps(measure(*map(int, sys.argv[1:]))))"
    return in_tree(tree, code, str(updates), str(calls))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Alternate the two trees ``--pairs`` times; print and write the medians and their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the baseline source tree (a git archive)")
    parser.add_argument("--name", help="what the baseline is, for the report (default: its path)")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--updates", type=int, default=60, help="updates of the user (the drift history keeps 50)")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per surface")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for surfaces_ab.{json,md}")
    args = parser.parse_args(argv)
    start = machine()
    branch = Path(__file__).resolve().parents[1]
    rows: dict[str, list[dict[str, Any]]] = {"branch": [], "baseline": []}
    for n in range(args.pairs):
        order = [("branch", branch), ("baseline", args.baseline)]
        for name, tree in order if n % 2 == 0 else order[::-1]:
            rows[name].append(side(tree, args.updates, args.calls))
    medians = {name: {key: statistics.median(r[key] for r in got) for key in got[0]} for name, got in rows.items()}
    results = {"machine": start, "load_average_at_end": machine()["load_average_at_start"], "args": vars(args)}
    results |= {"rows": rows, "medians": medians}
    table = ["| figure | this tree | baseline | ratio |", "|---|---|---|---|"]
    for key in ("profile_kb", "drift_records", *SURFACES):
        ours, base = medians["branch"][key], medians["baseline"][key]
        unit = " ms" if key in SURFACES else ""
        table.append(f"| {key} | {ours:.2f}{unit} | {base:.2f}{unit} | {ours / base:.2f}x |")
    text = "\n".join(
        [
            "# Query surfaces A/B (`python -m benchmarks.surfaces_ab`)",
            "",
            f"Baseline: {args.name or args.baseline}. {args.pairs} pairs (alternating which tree goes first), {args.updates}"
            f" updates, {args.calls} calls per surface; medians of our CPU per call (`process_time`).",
            f"Machine: {start['cpus']} CPUs, load {start['load_average_at_start']} at the start,"
            f" {results['load_average_at_end']} at the end.",
            "",
            *table,
            "",
        ]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "surfaces_ab.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / "surfaces_ab.md").write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
