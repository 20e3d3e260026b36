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
import gc
import io
import json
import os
import platform
import pstats
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from benchmarks.fakes import history, make_rpm, warm_up
from langchain_rpm import RPM
from langchain_rpm._plans import arun
from langchain_rpm.prompts import ExtractedFeatures
from langchain_rpm.testing import FakeStructuredChatModel

RESULTS = Path(__file__).parent / "results"
TARGET_MS = 1.0
FROZEN = "async, host gc.freeze()"


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

    out: dict[str, float] = {}
    floors = (("structured_caller_ms", lambda: arun(extractor.caller.plan(messages))), ("bind_tools_ms", direct))
    for name, call in (*floors, *floors):  # twice, alternating, the lower kept: the first pass pays one-time costs
        await asyncio.gather(*(call() for _ in range(10)))
        start = time.process_time()
        await asyncio.gather(*(call() for _ in range(calls)))
        out[name] = min(out.get(name, float("inf")), round(1000 * (time.process_time() - start) / calls, 3))
    return out


async def scaling_row(n: int, mode: str, profile_top: int = 0) -> dict[str, Any]:
    """CPU per call of one build of ``n`` items (``mode``: ``async``, ``sync``, or ``FROZEN``: async in a host
    that froze its start-up heap with ``gc.freeze()``, so full collections skip it), optionally profiled."""
    with tempfile.TemporaryDirectory() as folder:
        rpm, model, recorder = make_rpm(folder, delay=0.0, concurrency=16)
        await warm_up(rpm, recorder)
        if mode == FROZEN:  # the host's choice (two lines of its own), not the library's
            gc.collect()
            gc.freeze()
        profiler = cProfile.Profile() if profile_top else None
        commit = CommitTimes(rpm)
        collections = CollectorTimes()
        gc.callbacks.append(collections)
        start, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        if mode != "sync":
            await rpm.abuild_user("u", history(n))
        else:
            await asyncio.to_thread(rpm.build_user, "u", history(n))
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - start, time.perf_counter() - wall
        gc.callbacks.remove(collections)
        gc.unfreeze()
    calls = model.call_count
    row: dict[str, Any] = {
        "items": n,
        "mode": mode,
        "calls": calls,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "outside_model_ms_per_call": round(1000 * (cpu - recorder.cpu) / calls, 3),
        "commit_ms_per_call": round(1000 * commit.seconds / calls, 3),
        "full_collections": collections.count[2],
        "full_collections_ms_per_call": round(1000 * collections.seconds[2] / calls, 3),
        "young_collections_ms_per_call": round(1000 * (collections.seconds[0] + collections.seconds[1]) / calls, 3),
    }
    if profiler:
        row["profile"] = profile_text(profiler, "tottime", profile_top)
    return row


class CommitTimes:
    """CPU seconds (every thread) of a build's final commit: ``RPMStore.commit_plan``, wrapped on ``rpm``'s store.

    The commit is the build's last step, so nothing else runs meanwhile: the process CPU it spans is its own
    (embedding the examples, Chroma's writes of examples, manifest and profile).
    """

    def __init__(self, rpm: RPM) -> None:
        self.seconds = 0.0
        plan = rpm.store.commit_plan

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return (yield from plan(*args, **kwargs))
            finally:
                self.seconds += time.process_time() - start

        rpm.store.commit_plan = timed  # type: ignore[method-assign]


class CollectorTimes:
    """A ``gc.callbacks`` entry: how many collections of each generation ran, and their CPU seconds."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.count[info["generation"]] += 1
            self.seconds[info["generation"]] += time.process_time() - self._start


def _fresh_row(n: int, mode: str, profile_top: int) -> dict[str, Any]:
    """:func:`scaling_row` in this (fresh) process."""
    return asyncio.run(scaling_row(n, mode, profile_top))


def measured_row(n: int, mode: str, profile_top: int = 0, *, fresh: bool = True) -> dict[str, Any]:
    """One row, in a fresh process by default (no earlier build's heap or caches in the figure)."""
    if not fresh:
        return _fresh_row(n, mode, profile_top)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_fresh_row, n, mode, profile_top).result()


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median CPU per call, with every run's figure beside it."""
    ordered = sorted(runs, key=lambda row: row["outside_model_ms_per_call"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["runs_ms_per_call"] = [run["outside_model_ms_per_call"] for run in runs]
    return row


def profile_text(profiler: cProfile.Profile, sort: str, top: int) -> str:
    """The ``top`` rows of a profile sorted by ``sort``, as text."""
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats(sort).print_stats(top)
    return buffer.getvalue()


def target_note(met: bool, target: str) -> str:
    """``"<target>: met"`` or ``"<target>: **not met**"``."""
    return f"{target}: {'met' if met else '**not met**'}"


def in_tree(tree: Path, code: str, *args: str, timeout: float | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh process whose imports come from source tree ``tree``; its last line, as JSON."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-c", code, *args]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=True, timeout=timeout)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def tree_row(tree: Path, n: int, mode: str) -> dict[str, Any]:
    """One row measured with the code of another source tree (``git archive`` of a baseline), in a fresh process."""
    return in_tree(
        tree,
        f"import json; from benchmarks.overhead import _fresh_row; print(json.dumps(_fresh_row({n}, {mode!r}, 0)))",
    )


def scaling(
    sizes: list[int], profile_top: int, repeat: int = 3, fresh: bool = True, baseline: Path | None = None
) -> dict[str, Any]:
    """Every size, async and sync, ``repeat`` times interleaved (each in a fresh process), beside the bare-call
    floors measured now; each row is the median run. With ``baseline`` (another source tree), every row is
    also measured with that tree's code, alternating which of the two goes first."""
    floors = asyncio.run(_floors())
    keys = [(n, mode) for n in sizes for mode in ("async", "sync", FROZEN)]
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {key: [] for key in keys}
    base: dict[tuple[int, str], list[dict[str, Any]]] = {key: [] for key in keys}
    for turn in range(repeat):
        for n, mode in keys:
            if baseline is not None and turn % 2 == 0:
                base[(n, mode)].append(tree_row(baseline, n, mode))
            runs[(n, mode)].append(measured_row(n, mode, fresh=fresh))
            if baseline is not None and turn % 2 == 1:
                base[(n, mode)].append(tree_row(baseline, n, mode))
    rows = [median_row(runs[key]) for key in keys]
    if baseline is not None:
        for row, key in zip(rows, keys, strict=True):
            row["baseline"] = median_row(base[key])
    profiled = measured_row(sizes[-1], "async", profile_top, fresh=fresh) if profile_top else {}
    return {"floors": floors, "rows": rows, "profile": profiled.get("profile", ""), "repeat": repeat}


async def _floors() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        rpm, model, _ = make_rpm(folder, delay=0.0, concurrency=16)
        return await _call_floors(rpm, model, calls=300)


def markdown(results: dict[str, Any], command: str) -> str:
    """The table: ms per call by size and mode, as a ratio of the bare call."""
    floor = results["floors"]["bind_tools_ms"]
    lines = [
        f"# Our CPU per LLM call\n\nCommand: `{command}`\n",
        "| N | mode | calls | CPU outside the model, ms/call (median) | runs | of it: full GC collections "
        "| of it: the final commit | the rest | baseline: bare `bind_tools` call | ratio "
        f"| target <= {TARGET_MS:g} ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        ms = row["outside_model_ms_per_call"]
        met = "met" if ms <= TARGET_MS else "**not met**"
        runs = ", ".join(f"{r:.2f}" for r in row.get("runs_ms_per_call", [ms]))
        full = f"{row.get('full_collections', '?')} ({row.get('full_collections_ms_per_call', 0):.2f} ms/call)"
        commit, rest = _parts(row)
        lines.append(
            f"| {row['items']} | {row['mode']} | {row['calls']} | {ms:.2f} | {runs} | {full} | {commit} | {rest} "
            f"| {floor:.2f} ms | **{ms / floor:.1f}x** | {met} |"
        )
    if any("baseline" in row for row in results["rows"]):
        lines += [
            "",
            f"Interleaved with the baseline tree `{results.get('baseline_tree', '?')}` (each run a fresh process, the "
            "two trees alternating which goes first):",
            "",
            "| N | mode | this tree, ms/call (median) | runs | baseline tree, ms/call (median) | runs | lower in |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in results["rows"]:
            mine, theirs = row.get("runs_ms_per_call", []), row["baseline"].get("runs_ms_per_call", [])
            lower = sum(a < b for a, b in zip(mine, theirs, strict=False))
            lines.append(
                f"| {row['items']} | {row['mode']} | {row['outside_model_ms_per_call']:.2f} | "
                f"{', '.join(f'{r:.2f}' for r in mine)} | {row['baseline']['outside_model_ms_per_call']:.2f} | "
                f"{', '.join(f'{r:.2f}' for r in theirs)} | {lower} of {len(mine)} pairs |"
            )
    m = results["machine"]
    lines += [
        "",
        f"- Machine: {m['cpus']} CPU cores ({m['cpu_model']}), shared; load average {m['load_average_at_start']} at "
        f"start, {results.get('load_average_at_end', '?')} at the end. Python {m['python']}. One bare "
        f"`StructuredCaller` call: {results['floors']['structured_caller_ms']:.2f} ms (async).",
        f"- Each row: {results.get('repeat', 1)} builds, each in a fresh process after a 2-item warm-up, the rows "
        "interleaved; the median is shown. `full GC collections`: the interpreter's generation-2 collections during "
        "the median build and their CPU per call (part of the figure: they walk the whole heap, mostly the imported "
        "libraries). `the final commit`: the CPU of the store's `commit_plan` at the build's end (the examples' "
        "embedding and Chroma's writes), in the same run; `the rest`: the figure without both.",
        "- Fake model at delay 0 (its responder's CPU subtracted), DeterministicFakeEmbedding, embedded Chroma: the "
        "CPU includes LangChain's chat-model machinery, LangGraph, our stages and the store write.",
        f"- `{FROZEN}`: the same async build in a host that called `gc.collect(); gc.freeze()` after start-up "
        "(its own two lines; the library leaves the collector alone): full collections then skip the imported "
        "libraries' objects, so the row shows how much of the figure is the collector walking the host's heap.",
    ]
    if results.get("profile"):
        lines += [
            "",
            f"Profile of the async build at N={results['rows'][-1]['items']} (top functions by own time):",
            "",
        ]
        lines += ["```", *results["profile"].strip().splitlines()[:60], "```"]
    return "\n".join(lines) + "\n"


def _parts(row: dict[str, Any]) -> tuple[str, str]:
    """The median run's final commit and what is left without it and the full collections, ms per call."""
    if "commit_ms_per_call" not in row:  # a row measured by an older tree
        return "?", "?"
    commit = row["commit_ms_per_call"]
    rest = row["outside_model_ms_per_call"] - commit - row.get("full_collections_ms_per_call", 0)
    return f"{commit:.2f} ms/call", f"{rest:.2f} ms/call"


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
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (the median is reported)")
    parser.add_argument("--in-process", action="store_true", help="run every row in this process (quick checks)")
    parser.add_argument("--baseline", type=Path, help="another source tree (git archive) measured in alternation")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = ("python -m benchmarks.overhead " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    results = {"command": command, "machine": machine()}
    sizes = [int(n) for n in args.sizes.split(",")]
    results |= scaling(sizes, args.profile, args.repeat, fresh=not args.in_process, baseline=args.baseline)
    if args.baseline is not None:
        results["baseline_tree"] = str(args.baseline)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "overhead.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results, command)
    (args.out / "overhead.md").write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
