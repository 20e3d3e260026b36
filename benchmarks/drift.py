"""Drift handling on synthetic users with a known change: detection delay, false triggers, calls, statistics.

Run: ``python -m benchmarks.drift`` (``--help`` for options; writes ``drift.json`` and ``drift.md`` to ``--out``).

Users come from ``scripts/drift_users.py`` (LaMP-3 ratings, seeded): *stable* users keep one rule, *rule*
users switch their answer rule after item M, *topic* users start reviewing a topic their profile has no
factor for. Each is built on its first M items, then updated ``--step`` items at a time up to ``--items``.
The model is the deterministic keyword responder of the tests (``tests/support/rpm_fakes.py``): features
are exact, so this measures the monitor's statistics and the calls it pays, not a model's judgement.

Per kind: users whose monitor fired (``drift="report"``) and after how many items past M; updates that
fired on stable users (false triggers); under ``drift="on"``, the LLM calls the incremental rounds paid
against the calls of the updates themselves and of one full rebuild of the final history; and for rule
users, how close the Shipping factor's mean rating is to the new rule after the run: plain Eq. 1 over the
whole history, the recent window, and recency-weighted statistics (``recency_half_life``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.overhead import machine
from langchain_rpm import RPM, RPMStore
from langchain_rpm._recency import chronological
from langchain_rpm.stages.statistics import refresh_factors
from scripts.drift_users import drift_user
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model

RESULTS = Path(__file__).parent / "results"
KINDS = ("stable", "rule", "topic")


def _rpm(mode: str, args: argparse.Namespace) -> tuple[RPM, Any]:
    llm = rpm_fake_model()
    store = RPMStore(tempfile.mkdtemp(prefix="rpm-drift-"), embeddings=CountingEmbeddings())
    rpm = RPM(llm, "lamp3", store=store, drift=mode, drift_window=args.window, drift_alpha=args.alpha)
    return rpm, llm


def run_user(kind: str, seed: int, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """One user's run: the updates after M, what the monitor did, the calls, the Shipping statistics."""
    items = drift_user(seed, n_items=args.items, switch_at=args.switch_at, kind=kind, noise=args.noise)  # type: ignore[arg-type]
    rpm, llm = _rpm(mode, args)
    rpm.build_user("u", items[: args.switch_at])
    llm.reset()
    fired: list[int] = []
    for end in range(args.switch_at + args.step, args.items + 1, args.step):
        profile = rpm.add_interactions("u", items[end - args.step : end])
        if profile.drift[-1].crossed:
            fired.append(end - args.switch_at)
    drift_calls = sum(r.calls for r in profile.drift if r.action == "incremental")
    return {
        "kind": kind,
        "seed": seed,
        "mode": mode,
        "fired_at": fired,
        "updates": len(range(args.switch_at + args.step, args.items + 1, args.step)),
        "update_calls": llm.call_count - drift_calls,
        "drift_calls": drift_calls,
        "factors": [f.name for f in profile.factors],
        "shipping": _shipping(rpm, profile, args),
    }


def _shipping(rpm: RPM, profile: Any, args: argparse.Namespace) -> dict[str, float | None]:
    """The Shipping factor's mean rating: truth before / after M, and three estimates after the run."""
    examples = chronological(rpm.store.get_examples("u"))
    has = [ex for ex in examples if any(f.factor == "Shipping" for f in ex.features)]
    cut = {ex.item_id for ex in examples[: args.switch_at]}

    def mean(values: list[float]) -> float | None:
        return round(statistics.fmean(values), 3) if values else None

    factor = profile.factor("Shipping")
    weighted = refresh_factors(rpm.task, [factor], examples, half_life=args.half_life)[0] if factor else None
    recent = (profile.recent.statistics.get("Shipping") or {}) if profile.recent else {}
    return {
        "truth_before": mean([float(ex.answer) for ex in has if ex.item_id in cut]),
        "truth_after": mean([float(ex.answer) for ex in has if ex.item_id not in cut]),
        "plain": factor.statistics.mean_rating if factor and factor.statistics else None,
        "window": recent.get("mean"),
        "half_life": weighted.statistics.mean_rating if weighted and weighted.statistics else None,
    }


def rebuild_calls(kind: str, seed: int, args: argparse.Namespace) -> int:
    """Calls of one full build of the user's final history (what a rebuild on every change would pay)."""
    rpm, llm = _rpm("off", args)
    rpm.build_user("u", drift_user(seed, n_items=args.items, switch_at=args.switch_at, kind=kind, noise=args.noise))  # type: ignore[arg-type]
    return int(llm.call_count)


def summarize(rows: list[dict[str, Any]], rebuilds: dict[str, list[int]]) -> list[dict[str, Any]]:
    """One summary row per kind."""
    out = []
    for kind in KINDS:
        report = [r for r in rows if r["kind"] == kind and r["mode"] == "report"]
        on = [r for r in rows if r["kind"] == kind and r["mode"] == "on"]
        delays = [r["fired_at"][0] for r in report if r["fired_at"]]
        errors = {
            name: [
                abs(r["shipping"][name] - r["shipping"]["truth_after"])
                for r in report
                if r["shipping"][name] is not None and r["shipping"]["truth_after"] is not None
            ]
            for name in ("plain", "window", "half_life")
        }
        out.append(
            {
                "kind": kind,
                "users": len(report),
                "users_fired": len(delays),
                "delay_median": statistics.median(delays) if delays else None,
                "delay_range": [min(delays), max(delays)] if delays else None,
                "updates_fired": sum(len(r["fired_at"]) for r in report),
                "updates": sum(r["updates"] for r in report),
                "on_drift_calls_mean": statistics.fmean(r["drift_calls"] for r in on) if on else None,
                "on_update_calls_mean": statistics.fmean(r["update_calls"] for r in on) if on else None,
                "rebuild_calls_mean": statistics.fmean(rebuilds[kind]) if rebuilds[kind] else None,
                "romance_added": sum("Romance" in r["factors"] for r in on),
                "shipping_error": {k: round(statistics.fmean(v), 3) if v else None for k, v in errors.items()},
            }
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    """The results table and its set-up, as ``drift.md``."""
    a = result["args"]
    lines = [
        "# Drift handling on synthetic users with a known change",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']['cpus']} cores, load average at start {result['machine']['load_average_at_start']}, "
        f"{result['seconds']} s in all.",
        "",
        f"{a['users']} users per kind, {a['items']} items each, change after item M = {a['switch_at']}, updates of "
        f"{a['step']} items, window {a['window']}, alpha {a['alpha']} (Holm), noise {a['noise']}, half-life "
        f"{a['half_life']} items for the weighted column. Model: the tests' deterministic keyword responder.",
        "",
        "| kind | users fired | delay after M (median, range) | updates fired / measured | drift calls (on) | "
        "update calls (on) | full rebuild | Romance added (on) | Shipping mean error: plain / window / half-life |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["summary"]:
        delay = (
            f"{row['delay_median']} ({row['delay_range'][0]}-{row['delay_range'][1]})" if row["delay_range"] else "-"
        )
        err = row["shipping_error"]
        lines.append(
            f"| {row['kind']} | {row['users_fired']}/{row['users']} | {delay} | {row['updates_fired']}/{row['updates']} | "
            f"{row['on_drift_calls_mean']:.1f} | {row['on_update_calls_mean']:.1f} | {row['rebuild_calls_mean']:.1f} | "
            f"{row['romance_added']}/{row['users']} | {err['plain']} / {err['window']} / {err['half_life']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=8, help="users per kind (seeds 0..N-1)")
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--switch-at", type=int, default=24)
    parser.add_argument("--step", type=int, default=2, help="items per update")
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--half-life", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    about = machine()
    rows = [
        run_user(kind, seed, mode, args) for kind in KINDS for seed in range(args.users) for mode in ("report", "on")
    ]
    rebuilds = {kind: [rebuild_calls(kind, seed, args) for seed in range(args.users)] for kind in KINDS}
    result = {
        "command": "python -m benchmarks.drift " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "machine": about,
        "seconds": round(time.perf_counter() - started, 1),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "summary": summarize(rows, rebuilds),
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "drift.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "drift.md").write_text(markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
