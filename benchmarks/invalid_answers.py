"""Invalid-answer rate of the embedded local LLM (SmolLM2-135M on llama.cpp) on the demo data.

Run: ``python -m benchmarks.invalid_answers`` (``--help`` for options; writes ``--out`` as JSON).

Profiles are built with the deterministic demo model (``build_model=demo_chat_model()``: no local-LLM calls,
so the run measures the answering side only); every query then goes through the real pipeline on the local
server (factor-aware extraction, retrieval, generation, ``method="function_calling"``). Queries are each demo
user's held-out queries plus the last ``--history-queries`` items of their history. An answer is invalid when
it does not fit the task (:meth:`TaskSpec.check`). ``first_try_invalid`` counts predictions whose first answer
was invalid and that were asked again (``Prediction.retried``; absent in versions without the retry).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_rpm import RPM, RPMStore
from langchain_rpm.embeddings import default_embeddings
from langchain_rpm.evaluation import demo_dataset
from langchain_rpm.testing import demo_chat_model


def measure(task: str, llm: Any, *, history_queries: int, users: int, preset: str) -> dict[str, Any]:
    """Build the demo users of ``task`` with the demo model, then answer their queries with ``llm``."""
    store = RPMStore(tempfile.mkdtemp(prefix=f"rpm-invalid-{task}-"), embeddings=default_embeddings())
    rpm = RPM(llm, task=task, store=store, method="function_calling", build_model=demo_chat_model(), preset=preset)
    rows = []
    started = time.perf_counter()
    for user in demo_dataset(task)[:users]:
        rpm.build_user(user.user_id, [item.model_dump() for item in user.history])
        extra = [(item.input, item.options) for item in user.history[-history_queries:]] if history_queries else []
        for text, options in [(q.input, q.options) for q in user.queries] + extra:
            prediction = rpm.personalize(user.user_id, text, options=options)
            rows.append(
                {
                    "user": user.user_id,
                    "valid": prediction.valid,
                    "retried": bool(getattr(prediction, "retried", False)),
                    "raw_answer": prediction.raw_answer,
                    "calls": prediction.usage.llm_calls,
                }
            )
    invalid = sum(not row["valid"] for row in rows)
    first_try = sum(row["retried"] for row in rows)
    return {
        "task": task,
        "queries": len(rows),
        "invalid": invalid,
        "invalid_rate": invalid / len(rows) if rows else 0.0,
        "first_try_invalid": first_try,
        "calls": sum(row["calls"] for row in rows),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure every task asked for and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="lamp2,lamp3,goqa")
    parser.add_argument("--users", type=int, default=4, help="demo users per task")
    parser.add_argument("--history-queries", type=int, default=2, help="history items re-asked per user")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--label", default="", help="a name for this run in the output (e.g. 'before')")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import langchain_rpm
    from langchain_rpm.cli._local_llm import LocalLLMServer, local_chat_model

    results: dict[str, Any] = {
        "command": "python -m benchmarks.invalid_answers " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "label": args.label,
        "package": str(Path(langchain_rpm.__file__).parent),
        "tasks": [],
    }
    with LocalLLMServer(startup_timeout=120) as server:
        llm = local_chat_model(server)
        for task in args.tasks.split(","):
            result = measure(task, llm, history_queries=args.history_queries, users=args.users, preset=args.preset)
            results["tasks"].append(result)
            print(
                f"{task}: {result['invalid']}/{result['queries']} invalid "
                f"({result['invalid_rate']:.0%}), first try invalid {result['first_try_invalid']}, "
                f"{result['calls']} calls, {result['seconds']} s",
                flush=True,
            )
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
