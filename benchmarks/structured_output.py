"""What ``with_structured_output(include_raw=True)`` would cost ``StructuredCaller``: CPU per call and wall at 100 ms/call.

Run: ``python -m benchmarks.structured_output`` (writes ``benchmarks/results/structured_output.{json,md}``).

Issue 21 asks to take the raw reply and the parse error from ``include_raw=True`` instead of splitting
``with_structured_output`` into model and parser, unless that is measured more than 1 % slower at 100 ms per
call. Both run here in the same process on the same fake model (``FakeStructuredChatModel``, fixed delay):
``StructuredCaller.plan`` (the split), and the same call through ``include_raw=True`` (one ``Invoke`` of the
whole runnable, through the same limiter). Wall: 160 calls, 16 in flight (ideal 1.0 s). CPU: 300 calls at
delay 0, ``time.process_time`` (every thread).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from benchmarks.overhead import machine
from langchain_rpm._plans import CallLimiter, Invoke, Plan, arun, run
from langchain_rpm.stages.base import StructuredCaller
from langchain_rpm.testing import FakeStructuredChatModel

RESULTS = Path(__file__).parent / "results"
MESSAGES = [("human", "What is the answer?")]


class Answer(BaseModel):
    answer: str
    reasons: list[str]


def _model(delay: float) -> FakeStructuredChatModel:
    return FakeStructuredChatModel(responder=lambda m, s: {"answer": "42", "reasons": ["a", "b"]}, delay=delay)


def callers(delay: float) -> dict[str, Callable[[], Plan[Any]]]:
    """Each way of making one structured call, as a plan factory."""
    split = StructuredCaller(_model(delay), Answer, stage="generate", limiter=CallLimiter(16))
    raw = _model(delay).with_structured_output(Answer, include_raw=True)
    limiter = CallLimiter(16)

    def include_raw() -> Plan[Any]:
        reply = yield Invoke(raw, MESSAGES, {}, limiter)
        if reply["parsing_error"] is not None:
            raise reply["parsing_error"]
        return reply["parsed"]

    return {"split (StructuredCaller)": lambda: split.plan(MESSAGES), "include_raw=True": include_raw}


def wall(make: Callable[[], Plan[Any]], calls: int) -> dict[str, float]:
    """Seconds for ``calls`` calls, 16 at a time, on threads (sync) and as tasks (async)."""
    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: run(make()), range(calls)))
    sync = time.perf_counter() - start

    async def many() -> None:
        await asyncio.gather(*(arun(make()) for _ in range(calls)))

    start = time.perf_counter()
    asyncio.run(many())
    return {"sync_s": round(sync, 3), "async_s": round(time.perf_counter() - start, 3)}


def cpu(make: Callable[[], Plan[Any]], calls: int) -> dict[str, float]:
    """CPU milliseconds per call at delay 0, sync and async."""
    for _ in range(20):
        run(make())
    start = time.process_time()
    for _ in range(calls):
        run(make())
    sync = time.process_time() - start

    async def sequential() -> None:
        for _ in range(calls):
            await arun(make())

    start = time.process_time()
    asyncio.run(sequential())
    spent = time.process_time() - start
    return {"sync_ms": round(1000 * sync / calls, 3), "async_ms": round(1000 * spent / calls, 3)}


def markdown(results: dict[str, Any], command: str) -> str:
    """The table: each way beside the split, measured in the same run."""
    split, raw = results["split (StructuredCaller)"], results["include_raw=True"]
    rows = []
    for key, label in (("sync_s", "wall, sync (threads)"), ("async_s", "wall, async")):
        ratio = raw["wall"][key] / split["wall"][key]
        rows.append(
            f"| {label}: {results['calls']} calls at {results['delay_s'] * 1000:.0f} ms, 16 in flight (ideal "
            f"{results['calls'] / 16 * results['delay_s']:.1f} s) | {raw['wall'][key]:.2f} s | "
            f"{split['wall'][key]:.2f} s | **{ratio:.2f}x** | {'> 1 % slower' if ratio > 1.01 else 'within 1 %'} |"
        )
    for key, label in (("sync_ms", "CPU per call, sync"), ("async_ms", "CPU per call, async")):
        ratio = raw["cpu"][key] / split["cpu"][key]
        rows.append(f"| {label} | {raw['cpu'][key]:.2f} ms | {split['cpu'][key]:.2f} ms | **{ratio:.1f}x** | |")
    m = results["machine"]
    return "\n".join(
        [
            f"# Structured output: include_raw=True vs the split\n\nCommand: `{command}`\n",
            "| figure | `include_raw=True` | split (`StructuredCaller`), same run | ratio | issue 21's rule |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"- Machine: {m['cpus']} CPU cores ({m['cpu_model']}), shared; load average {m['load_average_at_start']}.",
            "- Why: `include_raw=True` wraps the model in two `RunnableParallel` steps; their sync `invoke` starts a "
            "thread pool per call (and async runs the parser on a worker thread).",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=160, help="calls of the wall figure")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds per simulated call")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = "python -m benchmarks.structured_output " + shlex.join(sys.argv[1:] if argv is None else argv)
    results: dict[str, Any] = {"machine": machine(), "calls": args.calls, "delay_s": args.delay}
    for name, make in callers(args.delay).items():
        results[name] = {"wall": wall(make, args.calls)}
    for name, make in callers(0.0).items():
        results[name]["cpu"] = cpu(make, 300)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "structured_output.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results, command.strip())
    (args.out / "structured_output.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
