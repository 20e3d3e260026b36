"""Build benchmark: how close a profile build runs to its critical path, and what it costs around the model.

Run: ``python -m benchmarks.build`` (writes ``benchmarks/results/build.{json,md}``; ``--help`` for sizes).

The model is :class:`~langchain_rpm.testing.FakeStructuredChatModel` with a fixed per-call ``delay`` and the
deterministic demo responder (made pack-aware below), so the figures measure our orchestration, not a model.
Embeddings are ``DeterministicFakeEmbedding`` (dimension 384, like MiniLM, instant), the store is the embedded
Chroma store on a temporary folder. Builds use the async API (``abuild_user`` / ``abuild_users``). Every figure
is a ratio against a baseline measured or computed in the same run:

- ``critical_path``: build wall time vs the ideal ``sum over phases of ceil(calls / concurrency) x delay``
  (extraction, Propose, Assign, the residual pass, reasoning), and vs a naive loop calling the stages one by one;
- ``cpu``: CPU seconds (``time.process_time``) per LLM call at ``delay=0``, minus the fake model's own CPU;
- ``bulk``: ``abuild_users`` throughput vs ``concurrency / delay``, and peak RSS (in a fresh process);
- ``tokens``: prompt tokens per history item at several pack sizes (``UsageTracker``; the fake counts 4 chars
  per token);
- ``incremental``: ``add_interactions`` of one item vs rebuilding the whole profile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import shlex
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from benchmarks.fakes import Recorder, history, make_rpm, packing_responder, warm_up
from benchmarks.overhead import cpu_per_call, machine, target_note
from langchain_rpm.usage import UsageTracker

__all__ = ["Recorder", "history", "make_rpm", "packing_responder", "warm_up"]

RESULTS = Path(__file__).parent / "results"


def ideal_seconds(calls: Counter[str], delay: float, concurrency: int) -> float:
    """Critical path: phases run one after another, each in ``ceil(calls / concurrency)`` waves of ``delay``."""
    phases = ("extract", "propose", "assign", "residual", "reason")
    return sum(math.ceil(calls[p] / concurrency) for p in phases) * delay


# -- figures -------------------------------------------------------------------------------------------------
async def critical_path(n: int, delay: float, concurrency: int, naive_n: int) -> dict[str, Any]:
    """One async build of ``n`` items vs the critical-path ideal and vs a naive sequential loop."""
    with tempfile.TemporaryDirectory() as folder:
        rpm, model, recorder = make_rpm(folder, delay=delay, concurrency=concurrency)
        await warm_up(rpm, recorder)
        start = time.perf_counter()
        await rpm.abuild_user("u", history(n))
        wall = time.perf_counter() - start
    ideal = ideal_seconds(recorder.calls, delay, concurrency)
    with tempfile.TemporaryDirectory() as folder:  # the same build through the sync API (threads)
        rpm, _, recorder = make_rpm(folder, delay=delay, concurrency=concurrency)
        await warm_up(rpm, recorder)
        start = time.perf_counter()
        await asyncio.to_thread(rpm.build_user, "u", history(n))
        sync_wall = time.perf_counter() - start
    naive = naive_loop(naive_n, delay)
    naive_estimate = model.call_count * naive["seconds_per_call"]  # the same calls, one after another
    return {
        "items": n,
        "delay_s": delay,
        "concurrency": concurrency,
        "calls": dict(recorder.calls),
        "wall_s": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "vs_ideal": round(wall / ideal, 3),
        "sync_wall_s": round(sync_wall, 3),
        "sync_vs_ideal": round(sync_wall / ideal, 3),
        "naive_measured": naive,
        "naive_estimate_s": round(naive_estimate, 2),
        "speedup_vs_naive": round(naive_estimate / wall, 1),
    }


def naive_loop(n: int, delay: float) -> dict[str, Any]:
    """Stages called one by one (extract each item, cluster, reason each item, store), measured at ``n`` items."""
    with tempfile.TemporaryDirectory() as folder:
        rpm, model, _ = make_rpm(folder, delay=delay, concurrency=1)
        rpm.build_user("warm-up", history(2, user=999))
        model.reset()
        parts = rpm.components
        items = history(n)
        start = time.perf_counter()
        features = {item["id"]: parts.extractor.invoke({"text": item["input"]}) for item in items}
        result = parts.aggregator.invoke({"items": items, "features": features})
        examples = [
            parts.reasoner.invoke({"item": item, "features": result.features[item["id"]], "factors": result.factors})
            for item in items
        ]
        parts.store.replace_user_examples("naive", examples)
        wall = time.perf_counter() - start
    return {
        "items": n,
        "calls": model.call_count,
        "wall_s": round(wall, 3),
        "seconds_per_call": round(wall / model.call_count, 4),
    }


def _chroma_client(folder: str, stack: ExitStack, server: bool) -> Any:
    """``None`` (the embedded store in ``folder``), or the client of a ``chroma run`` started in ``folder``."""
    if not server:
        return None
    import chromadb
    from chromadb.config import Settings

    from benchmarks.trust import chroma_server

    host, port = stack.enter_context(chroma_server(Path(folder)))
    return chromadb.HttpClient(host=host, port=port, settings=Settings(anonymized_telemetry=False))


def _bulk(users: int, items: int, delay: float, concurrency: int, server: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        client = _chroma_client(folder, stack, server)
        rpm, model, _ = make_rpm(folder, delay=delay, concurrency=concurrency, client=client)
        histories = {f"user-{u}": history(items, user=u) for u in range(users)}
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start, cpu = time.perf_counter(), time.process_time()
        results = asyncio.run(rpm.abuild_users(histories))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        failed = sum(isinstance(r, Exception) for r in results.values())
    ideal = concurrency / delay if delay else float("inf")
    return {
        "users": users,
        "store": "chroma run" if server else "embedded",
        "items_per_user": items,
        "delay_s": delay,
        "concurrency": concurrency,
        "calls": model.call_count,
        "failed_users": failed,
        "wall_s": round(wall, 2),
        "calls_per_s": round(model.call_count / wall, 1),
        "ideal_calls_per_s": ideal,
        "vs_bound": round(model.call_count / wall / ideal, 3),
        "cpu_s": round(cpu, 1),
        "cpu_ms_per_call": round(1000 * cpu / model.call_count, 2),
        "rss_before_mib": round(rss_before, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def bulk(
    users: int, items: int, delay: float, concurrency: int, *, isolate: bool = True, server: bool = False
) -> dict[str, Any]:
    """``abuild_users`` throughput and peak RSS; in a fresh process by default, so the peak is the bulk's own.

    ``server``: the store on a ``chroma run`` of its own (its writes then run out of this process).
    """
    if not isolate:
        return _bulk(users, items, delay, concurrency, server)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_bulk, users, items, delay, concurrency, server).result()


async def tokens(n: int, pack_sizes: tuple[int, ...]) -> dict[str, Any]:
    """Prompt and completion tokens per history item of a whole build, by pack size."""
    rows: list[dict[str, Any]] = []
    for size in pack_sizes:
        with tempfile.TemporaryDirectory() as folder:
            rpm, _, recorder = make_rpm(folder, delay=0.0, concurrency=16, pack_size=size)
            tracker = UsageTracker()
            profile = await rpm.abuild_user("u", history(n), config={"callbacks": [tracker]})
        usage = tracker.usage
        rows.append(
            {
                "pack_size": size,
                "items": profile.num_items,
                "calls": usage.llm_calls,
                "calls_by_kind": dict(recorder.calls),
                "input_tokens_per_item": round(usage.input_tokens / n, 1),
                "output_tokens_per_item": round(usage.output_tokens / n, 1),
            }
        )
    base = rows[0]["input_tokens_per_item"]
    for row in rows:
        row["input_vs_pack1"] = round(row["input_tokens_per_item"] / base, 3)
    return {"items": n, "rows": rows}


async def incremental(n: int, delay: float, concurrency: int) -> dict[str, Any]:
    """Add one item to an ``n``-item profile vs rebuild the ``n + 1`` items."""
    with tempfile.TemporaryDirectory() as folder:
        rpm, model, _ = make_rpm(folder, delay=delay, concurrency=concurrency)
        base, extra = history(n), history(1, start=n)
        await rpm.abuild_user("u", base)
        model.reset()
        start = time.perf_counter()
        await rpm.aadd_interactions("u", extra)
        add = {"calls": model.call_count, "wall_s": round(time.perf_counter() - start, 3)}
        model.reset()
        start = time.perf_counter()
        await rpm.abuild_user("u", base + extra)
        rebuild = {"calls": model.call_count, "wall_s": round(time.perf_counter() - start, 3)}
    return {
        "items": n,
        "delay_s": delay,
        "add_one": add,
        "rebuild": rebuild,
        "calls_ratio": round(add["calls"] / rebuild["calls"], 4),
        "wall_ratio": round(add["wall_s"] / rebuild["wall_s"], 3),
    }


# -- report --------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure, at the sizes in ``args``."""
    pack_sizes = tuple(int(p) for p in args.pack_sizes.split(","))
    return {
        "machine": machine(),
        "critical_path": asyncio.run(critical_path(args.items, args.delay, args.concurrency, args.naive_items)),
        "cpu": asyncio.run(cpu_per_call(args.items, profile_top=args.profile)),
        "bulk": bulk(args.users, args.user_items, args.bulk_delay, args.concurrency, isolate=not args.no_isolate),
        "tokens": asyncio.run(tokens(args.token_items, pack_sizes)),
        "incremental": asyncio.run(incremental(args.items, args.delay, args.concurrency)),
    }


def markdown(results: dict[str, Any], command: str) -> str:
    """The human summary: one table of measured figures with their baselines and targets."""
    cp, cpu, bk, inc = results["critical_path"], results["cpu"], results["bulk"], results["incremental"]
    naive = cp["naive_measured"]
    m = results["machine"]
    rows = [
        (
            f"build wall, N={cp['items']}, {cp['delay_s'] * 1000:.0f} ms/call, concurrency {cp['concurrency']}",
            f"{cp['wall_s']:.2f} s",
            f"ideal {cp['ideal_s']:.2f} s",
            f"**{cp['vs_ideal']:.2f}x** ideal",
            target_note(cp["vs_ideal"] <= 1.1, "<= 1.1x"),
        ),
        (
            "same build, sync API (`build_user`, threads)",
            f"{cp['sync_wall_s']:.2f} s",
            f"ideal {cp['ideal_s']:.2f} s",
            f"**{cp['sync_vs_ideal']:.2f}x** ideal",
            target_note(cp["sync_vs_ideal"] <= 1.1, "<= 1.1x"),
        ),
        (
            "same build vs naive sequential loop",
            f"{cp['wall_s']:.2f} s",
            f"naive {cp['naive_estimate_s']:.1f} s ({naive['calls']} calls measured: {naive['seconds_per_call']} s/call)",
            f"**{cp['speedup_vs_naive']:.0f}x** faster",
            "",
        ),
        (
            f"CPU per LLM call outside the model (delay 0, N={cpu['items']})",
            f"{cpu['outside_model_ms_per_call']:.2f} ms",
            f"one bare `StructuredCaller` call: {cpu['structured_caller_ms']:.2f} ms",
            f"**{cpu['outside_model_ms_per_call'] / cpu['structured_caller_ms']:.2f}x** bare call",
            target_note(cpu["outside_model_ms_per_call"] <= 1, "<= 1 ms"),
        ),
        (
            "CPU of one bare structured call, by binding",
            f"`StructuredCaller` (`with_structured_output`): {cpu['structured_caller_ms']:.2f} ms",
            f"`bind_tools` + `model_validate`: {cpu['bind_tools_ms']:.2f} ms",
            f"**{cpu['structured_caller_ms'] / cpu['bind_tools_ms']:.1f}x**",
            "llm.py",
        ),
        (
            f"bulk {bk['users']} users x {bk['items_per_user']} items, {bk['delay_s'] * 1000:.0f} ms/call",
            f"{bk['calls_per_s']:.0f} calls/s ({bk['wall_s']:.0f} s)",
            f"bound {bk['ideal_calls_per_s']:.0f} calls/s",
            f"**{bk['vs_bound']:.2f}x** bound",
            f"CPU {bk['cpu_ms_per_call']:.1f} ms/call (all threads)",
        ),
        (
            "bulk peak RSS (fresh process)",
            f"{bk['peak_rss_mib']:.0f} MiB",
            f"{bk['rss_before_mib']:.0f} MiB before the build",
            "",
            target_note(bk["peak_rss_mib"] <= 1536, "<= 1.5 GB"),
        ),
    ]
    for row in results["tokens"]["rows"]:
        rows.append(
            (
                f"prompt tokens per item, pack size {row['pack_size']} (N={results['tokens']['items']})",
                f"{row['input_tokens_per_item']:.0f}",
                "pack size 1",
                f"**{row['input_vs_pack1']:.2f}x**",
                f"{row['calls']} calls",
            )
        )
    rows.append(
        (
            f"add 1 item to a {inc['items']}-item profile",
            f"{inc['add_one']['calls']} calls, {inc['add_one']['wall_s']:.2f} s",
            f"rebuild {inc['rebuild']['calls']} calls, {inc['rebuild']['wall_s']:.2f} s",
            f"**{inc['calls_ratio']:.3f}x** calls, **{inc['wall_ratio']:.3f}x** wall",
            "",
        )
    )
    table = ["| figure | measured | baseline (same run) | ratio | target / note |", "|---|---|---|---|---|"]
    table += ["| " + " | ".join(cells) + " |" for cells in rows]
    load = ", ".join(str(x) for x in m["load_average_at_start"])
    notes = [
        f"Machine: {m['cpus']} CPU cores (shared; load average {load} at start), {m['cpu_model']}, Python "
        f"{m['python']}. Model: FakeStructuredChatModel "
        "(fixed delay per call) with the pack-aware demo responder; embeddings: DeterministicFakeEmbedding "
        "(dim 384, instant), so the numbers measure orchestration, not a model or MiniLM. Builds use the async API "
        "(`abuild_user`, `abuild_users`) unless a row says sync.",
        f"Critical path calls: {cp['calls']}. Ideal = sum over phases of ceil(calls / {cp['concurrency']}) x delay "
        "(extraction, Propose, Assign, reasoning); the measured wall also pays the store write.",
        f"CPU per call: one bare structured call costs {cpu['structured_caller_ms']:.2f} ms of CPU through "
        f"`StructuredCaller` (`with_structured_output(...)`, no `include_raw`) and {cpu['bind_tools_ms']:.2f} ms "
        "through `bind_tools` + `model_validate`; the rest of the build (LangGraph tasks, traced node and stage "
        f"runs, prompts, store) adds {cpu['outside_model_ms_per_call'] - cpu['structured_caller_ms']:.2f} ms per call.",
        "Token rows: all input tokens of a whole build (extraction, Propose-Assign-Select, reasoning) / items; the fake model "
        "counts 4 characters per token.",
    ]
    return "\n".join([f"# Build benchmark\n\nCommand: `{command}`\n", *table, "", *(f"- {n}" for n in notes), ""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=200, help="history items of the timed single-user builds")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds per simulated LLM call")
    parser.add_argument("--concurrency", type=int, default=16, help="max LLM calls in flight")
    parser.add_argument("--naive-items", type=int, default=10, help="items of the measured naive loop")
    parser.add_argument("--users", type=int, default=1000, help="users of the bulk build")
    parser.add_argument("--user-items", type=int, default=20, help="items per user in the bulk build")
    parser.add_argument("--bulk-delay", type=float, default=0.1, help="seconds per call in the bulk build")
    parser.add_argument("--no-isolate", action="store_true", help="run the bulk build in this process")
    parser.add_argument("--token-items", type=int, default=64, help="items of the token builds")
    parser.add_argument("--pack-sizes", default="1,4,8", help="pack sizes of the token builds")
    parser.add_argument("--profile", type=int, default=0, help="print the top N cProfile rows of the CPU build")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for build.json and build.md")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.build " + shlex.join(sys.argv[1:] if argv is None else argv)
    results = run(args)
    profile = results["cpu"].pop("profile", None)
    text = markdown(results, command.strip())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "build.json").write_text(json.dumps({"command": command.strip(), **results}, indent=2) + "\n")
    (args.out / "build.md").write_text(text)
    print(json.dumps(results, indent=2))
    print(text)
    if profile:
        print(profile)


if __name__ == "__main__":
    main()
