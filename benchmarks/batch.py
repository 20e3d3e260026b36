"""Batch API benchmark: calls per phase online vs lines and batches per phase through the Batch API.

Run: ``python -m benchmarks.batch --users 20 --items 10`` (writes ``benchmarks/results/batch.{json,md}``).

Both builds go through the real ``langchain-openai`` client to the loopback OpenAI server of the tests
(``tests/support/batch_server.py``: chat completions, files and batches), answered by the library's
deterministic ``demo_responder``, so the replies are the same and only the transport differs. The
online build's calls are counted by stage; the batched build's batches by the schema their lines ask
for (one schema per build phase). Costs are from the replies' token usage at gpt-4o-mini list prices,
halved for batch lines. Wall times measure the plumbing on a fake provider, not a real batch's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_rpm.batch import BatchBuilder
from langchain_rpm.testing import demo_responder
from langchain_rpm.usage import UsageTracker
from tests.support.batch_server import BatchServer, structured_responder
from tests.support.batch_worker import batch_histories, batched_rpm

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


async def measure(users: int, items: int, collect_window: float, **settings: Any) -> dict[str, Any]:
    """Build ``users`` x ``items`` online, then through the Batch API, against one loopback server."""
    histories = batch_histories(users, items)
    with BatchServer(structured_responder(demo_responder)) as server, tempfile.TemporaryDirectory() as folder:
        online_rpm = batched_rpm(server.base_url, Path(folder) / "online", **settings)
        tracker = UsageTracker()
        start = time.perf_counter()
        await online_rpm.abuild_users(histories, config={"callbacks": [tracker]})
        online = {
            "seconds": round(time.perf_counter() - start, 2),
            "http_calls": server.stats["chat_requests"],
            "calls_by_stage": tracker.usage.calls_by_stage,
            "input_tokens": tracker.usage.input_tokens,
            "output_tokens": tracker.usage.output_tokens,
        }
        server.reset_stats()
        builder = BatchBuilder(
            batched_rpm(server.base_url, Path(folder) / "batched", **settings),
            Path(folder) / "batch.sqlite",
            poll_interval=0.01,
            collect_window=collect_window,
        )
        start = time.perf_counter()
        await builder.abuild_users(histories)
        seconds = round(time.perf_counter() - start, 2)
        assert builder.usage is not None
        usage = builder.usage
        batched = {
            "seconds": seconds,
            "http_chat_calls": server.stats["chat_requests"],
            "batches": [{"lines": len(b["lines"]), "schemas": b["schemas"]} for b in server.batches],
            "usage": usage.model_dump(),
            "dollars": usage.dollars(),
            "list_dollars": usage.list_dollars(),
        }
    return {"users": users, "items": items, "settings": settings, "online": online, "batched": batched}


def markdown(report: dict[str, Any]) -> str:
    """The report as a short markdown page."""
    online, batched = report["online"], report["batched"]
    lines = [
        "# Batch API benchmark",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']}; load average at start {report['load_average']}.",
        "",
        f"{report['users']} users x {report['items']} items, settings {report['settings'] or 'of the default preset'}, "
        "loopback OpenAI server.",
        "",
        "| online stage | calls |",
        "|---|---|",
        *(f"| {stage} | {calls} |" for stage, calls in online["calls_by_stage"].items()),
        "",
        "| batch | lines | lines by output schema |",
        "|---|---|---|",
    ]
    for index, batch in enumerate(batched["batches"]):
        schemas = ", ".join(f"{k} {v}" for k, v in batch["schemas"].items())
        lines.append(f"| {index + 1} | {batch['lines']} | {schemas} |")
    usage = batched["usage"]
    lines += [
        "",
        f"Online: {online['http_calls']} chat completions in {online['seconds']} s.  ",
        f"Batched: {len(batched['batches'])} batches, {usage['lines']} lines ({usage['shared']} requests shared an "
        f"identical line), {batched['http_chat_calls']} online calls, in {batched['seconds']} s.  ",
        f"Cost: ${batched['dollars']:.6f} at batch prices vs ${batched['list_dollars']:.6f} at list prices.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the markdown and write ``batch.{json,md}`` to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--collect-window", type=float, default=0.2)
    parser.add_argument("--preset", choices=["default", "paper"], default=None, help="RPM preset (default: default)")
    parser.add_argument("--pack-size", type=int, default=None, help="items per extraction/reasoning call (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    load = [round(x, 2) for x in os.getloadavg()]
    settings = {k: v for k, v in {"preset": args.preset, "pack_size": args.pack_size}.items() if v is not None}
    report = asyncio.run(measure(args.users, args.items, args.collect_window, **settings))
    report["command"] = shlex.join(["python", "-m", "benchmarks.batch", *(argv if argv is not None else sys.argv[1:])])
    report["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}"
    report["load_average"] = load
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / "batch.md").write_text(text)
    print(text)
    return report


if __name__ == "__main__":
    main()
