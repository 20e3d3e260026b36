"""Our CPU per LLM call, across history sizes: what a build costs around the model, sync and async.

Run: ``python -m benchmarks.overhead`` (writes ``benchmarks/results/overhead.{json,md}``; ``--help`` for sizes).

Builds at ``delay=0`` with the fake model (``benchmarks/fakes.py``) and instant embeddings, at N = 36, 90,
300, 1,000, 3,000 items, through ``abuild_user`` and ``build_user``. CPU is ``time.process_time`` (every
thread) minus the fake model's own CPU (its responder), per LLM call. Baseline, measured in the same run: one
bare ``bind_tools`` call of the same model plus ``model_validate`` (LangChain's own floor for a call), and
one bare :class:`~langchain_rpm.stages.base.StructuredCaller` call. The largest size's async build is
profiled (cProfile, top functions by own time), so a missed target comes with what it spends on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.fakes import history, make_rpm, warm_up
from langchain_rpm import RPM
from langchain_rpm._plans import arun
from langchain_rpm.prompts import ExtractedFeatures
from langchain_rpm.testing import FakeStructuredChatModel

RESULTS = Path(__file__).parent / "results"
TARGET_MS = 1.0


async def cpu_per_call(n: int, profile_top: int = 0) -> dict[str, Any]:
    """CPU time per LLM call of an async build at ``delay=0``, the fake model's own share subtracted; and,
    as baselines, one bare structured call (``StructuredCaller``) and one ``bind_tools`` call plus validation."""
    with tempfile.TemporaryDirectory() as folder:
        rpm, model, recorder = make_rpm(folder, delay=0.0, concurrency=16)
        floors = await _call_floors(rpm, model, calls=n)
        await warm_up(rpm, recorder)
        profiler = cProfile.Profile() if profile_top else None
        start = time.process_time()
        if profiler:
            profiler.enable()
        await rpm.abuild_user("u", history(n))
        if profiler:
            profiler.disable()
        cpu = time.process_time() - start
    calls = model.call_count
    out: dict[str, Any] = {
        "items": n,
        "calls": calls,
        "cpu_s": round(cpu, 3),
        "model_cpu_s": round(recorder.cpu, 3),
        "cpu_ms_per_call": round(1000 * cpu / calls, 3),
        "outside_model_ms_per_call": round(1000 * (cpu - recorder.cpu) / calls, 3),
        **floors,
    }
    if profiler:
        out["profile"] = profile_text(profiler, "cumulative", profile_top)
    return out


async def _call_floors(rpm: RPM, model: FakeStructuredChatModel, calls: int) -> dict[str, float]:
    """CPU ms per call of the LLM call alone: through ``StructuredCaller`` and through ``bind_tools``."""
    extractor = rpm.components.extractor
    messages = extractor.prompt(extractor.coerce(history(1)[0]["input"])).to_messages()
    bound = model.bind_tools([ExtractedFeatures], tool_choice="any")

    async def direct() -> ExtractedFeatures:
        reply = await bound.ainvoke(messages)
        return ExtractedFeatures.model_validate(reply.tool_calls[0]["args"])  # type: ignore[attr-defined]

    out = {}
    for name, call in (
        ("structured_caller_ms", lambda: arun(extractor.caller.plan(messages))),
        ("bind_tools_ms", direct),
    ):
        await asyncio.gather(*(call() for _ in range(10)))
        start = time.process_time()
        await asyncio.gather(*(call() for _ in range(calls)))
        out[name] = round(1000 * (time.process_time() - start) / calls, 3)
    return out


async def scaling_row(n: int, mode: str, profile_top: int = 0) -> dict[str, Any]:
    """CPU per call of one build of ``n`` items (``mode``: ``async`` or ``sync``), optionally profiled."""
    with tempfile.TemporaryDirectory() as folder:
        rpm, model, recorder = make_rpm(folder, delay=0.0, concurrency=16)
        await warm_up(rpm, recorder)
        profiler = cProfile.Profile() if profile_top else None
        start, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        if mode == "async":
            await rpm.abuild_user("u", history(n))
        else:
            await asyncio.to_thread(rpm.build_user, "u", history(n))
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - start, time.perf_counter() - wall
    calls = model.call_count
    row: dict[str, Any] = {
        "items": n,
        "mode": mode,
        "calls": calls,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "outside_model_ms_per_call": round(1000 * (cpu - recorder.cpu) / calls, 3),
    }
    if profiler:
        row["profile"] = profile_text(profiler, "tottime", profile_top)
    return row


def profile_text(profiler: cProfile.Profile, sort: str, top: int) -> str:
    """The ``top`` rows of a profile sorted by ``sort``, as text."""
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats(sort).print_stats(top)
    return buffer.getvalue()


def target_note(met: bool, target: str) -> str:
    """``"<target>: met"`` or ``"<target>: **not met**"``."""
    return f"{target}: {'met' if met else '**not met**'}"


async def scaling(sizes: list[int], profile_top: int) -> dict[str, Any]:
    """Every size, async and sync, next to the bare-call floors measured now."""
    with tempfile.TemporaryDirectory() as folder:
        rpm, model, _ = make_rpm(folder, delay=0.0, concurrency=16)
        floors = await _call_floors(rpm, model, calls=300)
    rows = [await scaling_row(n, mode) for n in sizes for mode in ("async", "sync")]
    profiled = await scaling_row(sizes[-1], "async", profile_top) if profile_top else {}
    return {"floors": floors, "rows": rows, "profile": profiled.get("profile", "")}


def markdown(results: dict[str, Any], command: str) -> str:
    """The table: ms per call by size and mode, as a ratio of the bare call."""
    floor = results["floors"]["bind_tools_ms"]
    lines = [
        f"# Our CPU per LLM call\n\nCommand: `{command}`\n",
        "| N | mode | calls | CPU outside the model, ms/call | baseline: bare `bind_tools` call | ratio | "
        f"target <= {TARGET_MS:g} ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        ms = row["outside_model_ms_per_call"]
        met = "met" if ms <= TARGET_MS else "**not met**"
        lines.append(
            f"| {row['items']} | {row['mode']} | {row['calls']} | {ms:.2f} | {floor:.2f} ms | **{ms / floor:.1f}x** | {met} |"
        )
    m = results["machine"]
    lines += [
        "",
        f"- Machine: {m['cpus']} CPU cores ({m['cpu_model']}), shared; load average {m['load_average_at_start']} at "
        f"start. Python {m['python']}. One bare `StructuredCaller` call: {results['floors']['structured_caller_ms']:.2f} "
        "ms (async).",
        "- Fake model at delay 0 (its responder's CPU subtracted), DeterministicFakeEmbedding, embedded Chroma: the "
        "CPU includes LangChain's chat-model machinery, LangGraph, our stages and the store write.",
    ]
    if results.get("profile"):
        lines += [
            "",
            f"Profile of the async build at N={results['rows'][-1]['items']} (top functions by own time):",
            "",
        ]
        lines += ["```", *results["profile"].strip().splitlines()[:60], "```"]
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    """Cores, CPU model, Python and the load average now."""
    model = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return {
        "cpus": cpus,
        "cpu_model": model,
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="36,90,300,1000,3000", help="history sizes (items)")
    parser.add_argument("--profile", type=int, default=25, help="top functions of the largest async build")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = ("python -m benchmarks.overhead " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    results = {"command": command, "machine": machine()}
    results |= asyncio.run(scaling([int(n) for n in args.sizes.split(",")], args.profile))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "overhead.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results, command)
    (args.out / "overhead.md").write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
