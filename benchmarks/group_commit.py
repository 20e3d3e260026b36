"""Group commit vs one write per user on embedded Chroma: records per second through the store.

USERS x PER_USER examples (precomputed random unit vectors, dimension 384, as in ``benchmarks/retrieval.py``)
written once with one ``replace_user_examples`` per user, once with ``write_many_plan`` in groups of GROUP
users (each user still copy-on-write and switched atomically), each into a fresh store.

Run: ``python -m benchmarks.group_commit`` (writes ``benchmarks/results/group_commit.{json,md}``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.overhead import machine
from benchmarks.retrieval import RandomUnitEmbeddings, user_examples
from langchain_rpm._plans import run
from langchain_rpm.store import RPMStore
from langchain_rpm.store._writes import UserWrite, write_many_plan

RESULTS = Path(__file__).parent / "results"


def ingest(mode: str, users: int, per_user: int, group: int) -> float:
    """Records per second of one mode into a fresh embedded store."""
    with tempfile.TemporaryDirectory() as folder:
        store = RPMStore(folder, embeddings=RandomUnitEmbeddings(), namespace="bench")
        data = [(f"user-{u}", user_examples(u, per_user)) for u in range(users)]
        started = time.perf_counter()
        if mode == "one write per user":
            for user, examples in data:
                store.replace_user_examples(user, examples)
        else:
            for i in range(0, users, group):
                run(write_many_plan(store, [UserWrite(user, examples) for user, examples in data[i : i + group]]))
        return round(users * per_user / (time.perf_counter() - started), 1)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Both modes, then the results files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--per-user", type=int, default=20)
    parser.add_argument("--group", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    info = machine()
    rates = {mode: ingest(mode, args.users, args.per_user, args.group) for mode in ("one write per user", "group")}
    command = shlex.join(["python", "-m", "benchmarks.group_commit", *(argv if argv is not None else sys.argv[1:])])
    report = {"command": command, "machine": info, "load_end": round(os.getloadavg()[0], 2), "records_per_s": rates}
    lines = [
        "# Group commit on embedded Chroma",
        "",
        f"Command: `{command}`  ",
        f"Machine: {info['cpus']} CPU cores ({info['cpu_model']}); load average (1 min) at start / end: "
        f"{info['load_average_at_start'][0]} / {report['load_end']}.",
        "",
        f"{args.users} users x {args.per_user} examples, precomputed vectors; group commit in groups of {args.group} users.",
        "",
        "| mode | records/s |",
        "|---|---:|",
        *(f"| {mode} | {rate} |" for mode, rate in rates.items()),
        "",
        f"Group commit: x{rates['group'] / rates['one write per user']:.1f} the rate of one write per user.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "group_commit.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "group_commit.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
