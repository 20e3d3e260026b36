"""Which offline model the demo should run: each candidate GGUF through `rpm demo --json` on our own server.

For every model: wheel size, load time (server start until it answers), seconds per model call (wall time of the
demo over the calls the server served), valid replies (calls answered 200 minus invalid held-out answers and
items that failed in the build), and right answers on the demo's held-out queries. Prints a markdown table
and writes ``benchmarks/results/local_models.{json,md}``.

    python -m benchmarks.local_models --model smollm2-135m=PATH.gguf:WHEEL_MB --model gemma3-270m=PATH:WHEEL_MB
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from langchain_rpm.cli._local_llm import LocalLLMServer

RESULTS = Path(__file__).resolve().parent / "results"


def _run_demo(server: LocalLLMServer, store: Path, users: int, items: int) -> tuple[dict, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "RPM_MODEL")}
    command = [
        sys.executable, "-m", "langchain_rpm.cli", "--store", str(store), "--base-url", server.base_url,
        "--model", server.model_name, "--structured-output", "function_calling", "--concurrency", "2",
        "--no-cache", "demo", "--users", str(users), "--items", str(items), "--json",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"demo failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout), time.monotonic() - started


def measure(name: str, gguf: Path, wheel_mb: float, users: int, items: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        server = LocalLLMServer(gguf, log_dir=folder, model_name=name, startup_timeout=300)
        started = time.monotonic()
        with server:
            load_s = time.monotonic() - started
            document, wall = _run_demo(server, Path(folder) / "store", users, items)
            calls = (Path(folder) / "llama-server.log").read_text().count('"POST /v1/chat/completions HTTP/1.1" 200')
    queries = [u["prediction"] for u in document["users"]]
    failed_items = sum(len(u["profile"].get("failed_items") or []) for u in document["users"])
    invalid = sum(1 for p in queries if not p["valid"]) + failed_items + document["build"].get("failed_users", 0)
    return {
        "model": name,
        "wheel_mb": wheel_mb,
        "load_s": round(load_s, 1),
        "s_per_call": round(wall / max(calls, 1), 2),
        "calls": calls,
        "valid_replies": f"{calls - invalid}/{calls}",
        "right": f"{document['right']}/{len(queries)}",
        "unreadable_left_out": document["left_out_unreadable"],
        "answers": [(u["user_id"], u["prediction"]["answer"], u["truth"]) for u in document["users"]],
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", action="append", required=True, help="NAME=GGUF:WHEEL_MB")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--items", type=int, default=4)
    parser.add_argument("--out", default="local_models", help="results file name (without extension)")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = []
    for spec in args.model:
        name, rest = spec.split("=", 1)
        path, wheel_mb = rest.rsplit(":", 1)
        rows.append(measure(name, Path(path), float(wheel_mb), args.users, args.items))
        print(json.dumps(rows[-1]), flush=True)
    after = os.getloadavg()
    header = "| model | wheel MB | load s | s/call | valid replies | right on the demo | unreadable left out |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    lines += [
        f"| {r['model']} | {r['wheel_mb']:.0f} | {r['load_s']} | {r['s_per_call']} | {r['valid_replies']} | "
        f"{r['right']} | {r['unreadable_left_out']} |"
        for r in rows
    ]
    note = (
        f"`rpm demo --users {args.users} --items {args.items}` (lamp2) per model on our cyllama server, one thread, "
        f"2 shared cores; load average {load[0]:.1f} before, {after[0]:.1f} after."
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"note": note, "rows": rows}, indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text("\n".join([*lines, "", note]) + "\n")
    print("\n".join([*lines, "", note]))


if __name__ == "__main__":
    main()
