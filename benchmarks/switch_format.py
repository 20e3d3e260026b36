"""Switch-record format benchmark: the CPU of upserting users' manifests and profiles, as documents vs as metadata.

Run: ``python -m benchmarks.switch_format`` (writes ``benchmarks/results/switch_format.{json,md}``).

A write ends with one upsert of the profiles collection: each switched user's manifest (the exact ids of
their current examples) and, for a build, their profile. Up to 9991821 the JSON of both was the record's
document, which Chroma full-text indexes; now it is kept in metadata with an empty document
(:func:`~langchain_rpm.store._records.switch_record`). This times the raw ``upsert`` of the same users' records
in both formats on one embedded client, interleaved (order alternating), each into a fresh collection
("new": a first build or ingest) and then once more over the records just written ("overwrite": a rebuild).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import chromadb

from benchmarks.ingest import save
from benchmarks.overhead import machine
from langchain_rpm.store._records import encode_manifest, example_id, manifest_id, profile_id, switch_record
from langchain_rpm.testing import demo_rpm
from langchain_rpm.types import UserProfile

RESULTS = Path(__file__).parent / "results"


def documents_format(user_id: str, ids: list[str], profile: UserProfile | None) -> dict[str, list[Any]]:
    """The switch's records as written up to 9991821: the JSON as the documents."""
    record: dict[str, list[Any]] = {
        "ids": [manifest_id(user_id)],
        "documents": [encode_manifest(ids)],
        "metadatas": [{"user_id": user_id, "kind": "example_ids"}],
    }
    if profile is not None:
        record["ids"].append(profile_id(user_id))
        record["documents"].append(profile.model_dump_json())
        record["metadatas"].append({"user_id": user_id, "version": profile.version})
    return record


FORMATS = {"documents (before)": documents_format, "metadata (now)": switch_record}


def _batch(encode: Any, users: int, per_user: int, profile: UserProfile | None, commit: str) -> dict[str, Any]:
    batch: dict[str, list[Any]] = {"ids": [], "documents": [], "metadatas": []}
    for u in range(users):
        user = f"user-{u}"
        ids = [example_id(user, str(i), commit) for i in range(per_user)]
        owned = None if profile is None else profile.model_copy(update={"user_id": user})
        for key, values in encode(user, ids, owned).items():
            batch[key] += values
    return {**batch, "embeddings": [[1.0]] * len(batch["ids"])}


def measure(users: int, per_user: int, repeats: int, profile: UserProfile | None) -> dict[str, dict[str, float]]:
    """Median CPU ms (``process_time``) of one upsert of ``users``' switch records, per format, new and overwrite."""
    samples: dict[str, dict[str, list[float]]] = {name: {"new": [], "overwrite": []} for name in FORMATS}
    with tempfile.TemporaryDirectory() as folder:
        client = chromadb.PersistentClient(folder, settings=chromadb.Settings(anonymized_telemetry=False))
        for repeat in range(repeats + 1):  # the first round warms the client up and is not kept
            names = list(FORMATS) if repeat % 2 == 0 else list(FORMATS)[::-1]
            for name in names:
                collection = client.create_collection(f"switch-{repeat}-{len(name)}", embedding_function=None)
                for kind, commit in (("new", "c1"), ("overwrite", "c2")):
                    batch = _batch(FORMATS[name], users, per_user, profile, commit)
                    cpu = time.process_time()
                    collection.upsert(**batch)
                    if repeat:
                        samples[name][kind].append(1000 * (time.process_time() - cpu))
    return {
        name: {kind: round(sorted(xs)[len(xs) // 2], 1) for kind, xs in kinds.items()}
        for name, kinds in samples.items()
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Both formats with and without a profile, then the results files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--per-user", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = ("python -m benchmarks.switch_format " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    info = machine()
    profile = demo_rpm().profile("ada")
    results = {
        "command": command,
        "machine": info,
        "profile_chars": len(profile.model_dump_json()),
        "manifests_only": measure(args.users, args.per_user, args.repeats, None),
        "manifests_and_profiles": measure(args.users, args.per_user, args.repeats, profile),
        "load_end": round(os.getloadavg()[0], 2),
        **{key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
    }
    save(args.out, "switch_format", results, markdown(results))
    return results


def markdown(r: dict[str, Any]) -> str:
    """One row per case: both formats side by side, measured in the same run."""
    rows = [
        "| upsert of the switch records | documents (before) | metadata (now) | now / before |",
        "|---|---|---|---|",
    ]
    for case, label in (
        ("manifests_only", "manifests (an ingest)"),
        ("manifests_and_profiles", "manifests + profiles"),
    ):
        for kind in ("new", "overwrite"):
            before, now = r[case]["documents (before)"][kind], r[case]["metadata (now)"][kind]
            rows.append(
                f"| {r['users']} users' {label}, {kind} | {before:.1f} ms | {now:.1f} ms | **{now / before:.2f}x** |"
            )
    m = r["machine"]
    return "\n".join(
        [
            f"# Switch-record format\n\nCommand: `{r['command']}`\n",
            *rows,
            "",
            f"- {r['users']} users, {r['per_user']} record ids per manifest, a profile of {r['profile_chars']} characters "
            f"(the demo build's); median CPU (`process_time`) of {r['repeats']} interleaved rounds, one embedded client.",
            f"- Machine: {m['cpus']} CPU cores ({m['cpu_model']}), shared; load average (1 min) at start / end: "
            f"{m['load_average_at_start'][0]} / {r['load_end']}.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
