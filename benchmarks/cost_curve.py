"""Cost curve: LLM calls, tokens and dollars per user by history size, preset, packing, online and batched.

Run: ``python -m benchmarks.cost_curve`` (writes ``benchmarks/results/cost_curve.{json,md,png}``).

Same counting model and paper-sized replies as ``benchmarks/cost.py`` (:class:`~benchmarks.cost.SizedResponder`,
4 characters = 1 token), GOQA, at N = 36, 90, 300, 1,000 items, for three configurations: the paper preset (one
call per feature in Propose-Assign-Select's Assign and residual passes, a separate judge), the default preset,
and the default with packing (``pack_size=8``: eight items per extraction and reasoning call). Dollars at
gpt-4o-mini list prices online, and at the Batch API's price (``langchain_rpm.batch._cost.BATCH_DISCOUNT`` of
the list price) for the same tokens. The baseline is the paper's own figure (Table 9, GOQA, RPM: $0.0581 per
user build, $0.0037 per query, ``langchain_rpm.evaluation.paper.PAPER_COST``): each row is a ratio to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import BaseMessage

from benchmarks.cost import SizedResponder, history
from benchmarks.fakes import packing_responder
from langchain_rpm import RPM, RPMStore
from langchain_rpm.batch._cost import BATCH_DISCOUNT
from langchain_rpm.evaluation.cost import Prices
from langchain_rpm.evaluation.paper import PAPER_COST
from langchain_rpm.testing import FakeStructuredChatModel

RESULTS = Path(__file__).parent / "results"
CONFIGS = {"paper": ("paper", 1), "default": ("default", 1), "default + packing (8)": ("default", 8)}


def titled(inner: SizedResponder) -> Any:
    """Give a packed entry's schema (untitled) the single-item title, so the sized replies apply to packs too."""

    def respond(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        props = schema.get("properties", {})
        if not schema.get("title") and "features" in props:
            aware = "factors" in props["features"].get("items", {}).get("properties", {})
            schema = {**schema, "title": "FactorAwareFeatures" if aware else "ExtractedFeatures"}
        return inner(messages, schema)

    return packing_responder(respond)


async def measure(config: str, n: int, queries: int) -> dict[str, Any]:
    """One GOQA user of ``n`` items built with ``config``, then ``queries`` queries."""
    preset, pack_size = CONFIGS[config]
    model = FakeStructuredChatModel(responder=titled(SizedResponder()), model="counting-fake")
    with tempfile.TemporaryDirectory() as folder:
        store = RPMStore(folder, embeddings=DeterministicFakeEmbedding(size=16))
        rpm = RPM(model, task="goqa", store=store, preset=preset, pack_size=pack_size, max_concurrency=16)
        items = history("goqa", n + queries, user=n)
        profile = await rpm.abuild_user("u", items[:n])
        query_calls, query_dollars = 0, 0.0
        for item in items[n:]:
            prediction = await rpm.apersonalize("u", item["input"], options=item.get("options"))
            query_calls += prediction.usage.llm_calls
            query_dollars += Prices().dollars(prediction.usage)
    online = Prices().dollars(profile.cost)
    return {
        "config": config,
        "items": n,
        "calls": profile.cost.llm_calls,
        "input_tokens": profile.cost.input_tokens,
        "output_tokens": profile.cost.output_tokens,
        "dollars_online": round(online, 6),
        "dollars_batch": round(online * BATCH_DISCOUNT, 6),
        "vs_paper_online": round(online / PAPER_COST["dollars_per_build"], 3),
        "vs_paper_batch": round(online * BATCH_DISCOUNT / PAPER_COST["dollars_per_build"], 3),
        "query_calls": query_calls / queries,
        "query_dollars": round(query_dollars / queries, 6),
        "query_vs_paper": round(query_dollars / queries / PAPER_COST["dollars_per_query"], 3),
    }


def markdown(results: dict[str, Any], command: str) -> str:
    """One row per (configuration, N)."""
    paper = results["paper_cost"]
    lines = [
        f"# Cost curve\n\nCommand: `{command}`\n",
        f"GOQA, counting model with paper-sized replies (see `benchmarks/cost.py`). Baseline: the paper's Table 9, "
        f"**${paper['dollars_per_build']}** per user build and **${paper['dollars_per_query']}** per query "
        f"(gpt-4o-mini, online). Batch = {BATCH_DISCOUNT:.0%} of the list price for the same tokens.",
        "",
        "| configuration | N | calls | tokens in / out | $ / user online | x paper | $ / user batch | x paper | "
        "$ / query | x paper |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['config']} | {r['items']} | {r['calls']:,} | {r['input_tokens']:,} / {r['output_tokens']:,} | "
            f"${r['dollars_online']:.4f} | **{r['vs_paper_online']:.2f}x** | ${r['dollars_batch']:.4f} | "
            f"**{r['vs_paper_batch']:.2f}x** | ${r['query_dollars']:.5f} | {r['query_vs_paper']:.2f}x |"
        )
    if results.get("plot"):
        lines += ["", f"![cost curve]({results['plot']})"]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> bool:
    """Dollars per user against N, online (solid) and batched (dashed); ``False`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for config in CONFIGS:
        rows = [r for r in results["rows"] if r["config"] == config]
        line = axes.plot([r["items"] for r in rows], [r["dollars_online"] for r in rows], marker="o", label=config)
        axes.plot(
            [r["items"] for r in rows],
            [r["dollars_batch"] for r in rows],
            linestyle="--",
            color=line[0].get_color(),
            label=f"{config}, batch API",
        )
    axes.axhline(results["paper_cost"]["dollars_per_build"], color="black", linewidth=0.8, label="paper, Table 9")
    axes.set(
        xscale="log",
        yscale="log",
        xlabel="history items per user (N)",
        ylabel="$ per user build",
        title="RPM build cost per user (GOQA, gpt-4o-mini prices)",
    )
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="36,90,300,1000", help="history sizes N")
    parser.add_argument("--queries", type=int, default=2, help="queries per user (averaged)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = ("python -m benchmarks.cost_curve " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    rows = [asyncio.run(measure(c, int(n), args.queries)) for c in CONFIGS for n in args.sizes.split(",")]
    results: dict[str, Any] = {"command": command, "paper_cost": PAPER_COST, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    if plot(results, args.out / "cost_curve.png"):
        results["plot"] = "cost_curve.png"
    (args.out / "cost_curve.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results, command)
    (args.out / "cost_curve.md").write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
