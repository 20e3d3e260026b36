"""Reliability report: inject each fault class into real builds and record what happened.

Run: ``python -m benchmarks.reliability`` (writes ``benchmarks/results/reliability.{json,md}``);
``--only faults`` or ``--only trust`` reruns one part and keeps the other part's recorded figures.

Every LLM call goes through the real ``langchain-openai`` client to a local fault-injecting OpenAI server
(``tests/support/fault_server.py``); the model behind it is the deterministic RPM test responder. For each
fault class a 200-item build runs with that fault injected at a fixed rate, then the same build is re-run
with faults off: the report shows how many faults were injected, items stored / failed, duplicates, and
whether the re-run completed the failed items. A crash scenario kills a build process (SIGKILL) at random
points and compares the resumed result with an uninterrupted build. The trust part (``benchmarks/trust.py``):
N writers for one user (threads, asyncio tasks, processes on one embedded folder, clients of a real Chroma
server), with lost / duplicated / refused counts, and the forget check (bytes of a user's marker left on disk).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks import trust
from langchain_rpm import RPM, RPMStore
from tests.support.crash_worker import history
from tests.support.fault_server import FaultServer
from tests.support.rpm_fakes import CountingEmbeddings, rpm_http_responder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FAULTS = {
    "429 rate limit": {"rate_429": 0.15},
    "500 server error": {"rate_500": 0.15},
    "slow reply (client timeout)": {"rate_slow": 0.05},
    "truncated body (connection closed)": {"rate_truncated": 0.15, "truncated_mode": "close"},
    "truncated JSON body": {"rate_truncated": 0.1, "truncated_mode": "json"},
    "schema-invalid JSON": {"rate_invalid": 0.2},
    "all of the above": {
        "rate_429": 0.05,
        "rate_500": 0.05,
        "rate_slow": 0.02,
        "rate_truncated": 0.05,
        "truncated_mode": "mixed",
        "rate_invalid": 0.08,
    },
}


def fault_scenario(name: str, rates: dict[str, Any], items: int, seed: int) -> dict[str, Any]:
    """A build under one fault class, then a re-run with faults off."""
    with (
        tempfile.TemporaryDirectory() as folder,
        FaultServer(rpm_http_responder, seed=seed, slow_seconds=1.5, **rates) as server,
    ):
        llm = ChatOpenAI(model="fake", base_url=server.base_url, api_key="test", max_retries=2, timeout=1.0)
        store = RPMStore(Path(folder) / "store", embeddings=CountingEmbeddings())
        rpm = RPM(
            llm,
            task="lamp2",
            store=store,
            method="function_calling",
            checkpointer=InMemorySaver(),
            max_concurrency=8,
            max_retries=2,
        )
        data = history(items)
        started = time.perf_counter()
        aborted = ""
        try:
            failed = [f.item_id for f in rpm.build_user("ada", data).failed_items]
            reasons = sorted({f.split(":")[0] for f in (x.error for x in store.get_profile("ada").failed_items)})
        except Exception as exc:  # a whole-user step (clustering) failed: the re-run resumes it
            aborted, failed, reasons = f"{type(exc).__name__}", [i["id"] for i in data], [type(exc).__name__]
        seconds = time.perf_counter() - started
        stats = server.stats
        stored = [e.item_id for e in store.get_examples("ada")]
        server.set_rates(rate_429=0, rate_500=0, rate_slow=0, rate_truncated=0, rate_invalid=0)
        server.reset_stats()
        second = rpm.build_user("ada", data)
        ids = store.examples.get(include=[])["ids"]
        return {
            "fault": name,
            "rates": rates,
            "requests": stats["chat_requests"],
            "injected": {k: v for k, v in stats["injected"].items() if v},
            "stored": len(stored),
            "failed": len(failed),
            "aborted": aborted,  # a whole-user step failed: nothing was stored, the re-run resumed it
            "every_item_once": bool(aborted)
            or (sorted(stored + failed) == sorted(i["id"] for i in data) and not set(stored) & set(failed)),
            "duplicates": len(ids) - len(set(ids)),
            "seconds": round(seconds, 1),
            "rerun_requests": server.stats["chat_requests"],
            "rerun_stored": second.num_items,
            "rerun_failed": len(second.failed_items),
            "failure_reasons": reasons,
        }


def crash_scenario(items: int, kills: int, seed: int) -> dict[str, Any]:
    """SIGKILL a build process at random LLM-call counts, resume, compare with an uninterrupted build."""

    def calls(folder: Path) -> int:
        log = folder / "calls.log"
        return len(log.read_text().splitlines()) if log.exists() else 0

    def run(folder: Path, kill_at: int | None) -> bool:
        command = [
            sys.executable,
            "-m",
            "tests.support.crash_worker",
            str(folder),
            str(folder / "cp.sqlite"),
            str(items),
            "0.03",
        ]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while kill_at is not None and process.poll() is None:
            if calls(folder) >= kill_at:
                process.kill()
                process.wait()
                return False
            time.sleep(0.005)
        _, err = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(err[-2000:])
        return True

    def state(folder: Path) -> tuple[Any, Any]:
        store = RPMStore(folder / "chroma", embeddings=CountingEmbeddings())
        profile = store.get_profile("ada")
        return [e.model_dump() for e in store.get_examples("ada")], profile.model_dump(
            exclude={"created_at", "updated_at"}
        )

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        reference, crashed = Path(tmp) / "reference", Path(tmp) / "crashed"
        reference.mkdir()
        crashed.mkdir()
        run(reference, None)
        killed = 0
        for _ in range(kills):
            target = min(2 * items + 1, calls(crashed) + rng.randint(1, max(2, items // 2)))
            killed += 0 if run(crashed, target) else 1
        run(crashed, None)
        return {
            "fault": "process killed (SIGKILL) at random points, then re-run",
            "injected": {"kills": killed},
            "uninterrupted_calls": calls(reference),
            "calls_with_kills": calls(crashed),
            "same_stored_state": state(reference) == state(crashed),
        }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Reliability report",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}; generated {results['generated']}.",
        "",
        "Each build: 200 history items through the real `langchain-openai` client (max_retries=2, timeout 1 s)",
        "to a local fault-injecting OpenAI server; schema failures are retried twice with the error fed back.",
        "",
        "| fault | injected | requests | stored | failed | every item once | duplicates | re-run: requests → stored / failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["faults"]:
        injected = ", ".join(f"{k}: {v}" for k, v in r["injected"].items()) or "0"
        lines.append(
            f"| {r['fault']} | {injected} | {r['requests']} | {r['stored']} | {r['failed']} | "
            f"{'yes' if r['every_item_once'] else 'NO'}{' (build aborted: ' + r['aborted'] + ')' if r['aborted'] else ''} | {r['duplicates']} | "
            f"{r['rerun_requests']} → {r['rerun_stored']} / {r['rerun_failed']} |"
        )
    crash = results.get("crash")
    if crash is None:
        return "\n".join(lines + (trust.markdown(results) if "concurrency" in results else [])) + "\n"
    lines += [
        "",
        "## Crash safety",
        "",
        f"{crash['injected']['kills']} SIGKILLs at random LLM-call counts during a {results['crash_items']}-item build "
        f"(async, SQLite checkpointer, SQLite LLM cache): {crash['calls_with_kills']} LLM calls paid in total vs "
        f"{crash['uninterrupted_calls']} uninterrupted; stored examples and profile identical to the uninterrupted "
        f"build: **{'yes' if crash['same_stored_state'] else 'NO'}**.",
        "",
        "Failure reasons seen (items reported failed, then completed by the re-run): "
        + "; ".join(sorted({reason for r in results["faults"] for reason in r["failure_reasons"]})),
    ]
    if "concurrency" in results:
        lines += trust.markdown(results)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--crash-items", type=int, default=40)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--writers", type=int, default=4, help="writers of each kind in the trust part")
    parser.add_argument("--writer-items", type=int, default=10, help="items each writer adds")
    parser.add_argument("--only", choices=["faults", "trust"], help="rerun one part, keep the other's figures")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = "python -m benchmarks.reliability" + (" " + " ".join(argv) if argv else "")
    recorded = args.out / "reliability.json"
    results: dict[str, Any] = json.loads(recorded.read_text()) if args.only and recorded.exists() else {}
    machine = f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    stamp = {"machine": machine, "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.only != "trust":
        results |= {**stamp, "command": command, "crash_items": args.crash_items, "faults": []}
        for name, rates in FAULTS.items():
            row = fault_scenario(name, rates, args.items, args.seed)
            print(json.dumps(row), flush=True)
            results["faults"].append(row)
        results["crash"] = crash_scenario(args.crash_items, args.kills, args.seed)
        print(json.dumps(results["crash"]), flush=True)
    if args.only != "faults":
        results |= {"trust_command": command, "trust_generated": f"{stamp['machine']}; {stamp['generated']}"}
        results["concurrency"] = trust.concurrency(args.writers, args.writer_items)
        results["forget"] = trust.forget_check(args.writer_items)
        print(json.dumps({"concurrency": results["concurrency"], "forget": results["forget"]}), flush=True)
    results = {"command": command, "faults": [], **stamp, **results}
    args.out.mkdir(parents=True, exist_ok=True)
    recorded = args.out / "reliability.json"
    recorded.write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "reliability.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main(sys.argv[1:])
