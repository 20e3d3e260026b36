"""Cost benchmark: LLM calls, tokens and dollars per user build and per query, paper preset vs default preset.

Run: ``python -m benchmarks.cost`` (writes ``benchmarks/results/cost.{json,md}``; ``--help`` for sizes).

The model is the counting test model (:class:`~langchain_rpm.testing.FakeStructuredChatModel`: 4 characters of
prompt or reply count as one token) with :class:`SizedResponder`, which answers every RPM prompt with replies
of the size the paper reports: 10 features per item (its case studies show 9-10), 16 Propose candidates,
reasoning paths of about 130 words (its Table 12), and features whose factors follow a skewed distribution
over 10 latent factors plus 5 % that fit none, so Propose-Assign-Select needs a residual pass as the paper's
does. The prompts are RPM's own, on synthetic inputs of realistic length (a survey question with options for
GOQA, an abstract for LaMP-5). Dollars are gpt-4o-mini list prices ($0.15 / 1M input, $0.60 / 1M output),
next to the paper's Table 9 (GOQA, RPM: $0.0581 per user build, $0.0037 per query). The figures measure our
prompts and call structure, not a model: a real model's replies differ in length.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import BaseMessage

from langchain_rpm import RPM, RPMStore
from langchain_rpm.evaluation.cost import Prices
from langchain_rpm.evaluation.paper import PAPER_COST
from langchain_rpm.testing import FakeStructuredChatModel, fill_schema
from langchain_rpm.types import Usage

RESULTS = Path(__file__).parent / "results"
STAGES = ("extract", "propose", "assign", "residual", "judge", "reason")
LATENT = [
    "Methodology",
    "Evaluation",
    "Challenges",
    "Performance",
    "Algorithms",
    "Data",
    "Scope",
    "Style",
    "Novelty",
    "Domain",
]
WEIGHTS = [0.22, 0.18, 0.14, 0.12, 0.1, 0.08, 0.06, 0.04, 0.03, 0.03]
ODD = 0.05
"""Share of features that fit no latent factor (they go to the residual pass)."""
_WORDS = (
    "model data signal network method error sample policy graph kernel memory search robust sparse latent "
    "temporal spatial adaptive neural federated causal convex stochastic efficient scalable noisy private "
    "language vision speech reward agent planning retrieval transfer domain shift bias fairness audit survey "
    "market health climate energy education policy regional public cultural economic social trust opinion"
)
VOCABULARY = _WORDS.split()


def _unit(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) / 16**12


def latent_factor(feature_name: str) -> str | None:
    """The factor a synthetic feature belongs to (``None`` for the odd ones), a pure function of its name."""
    u = _unit(feature_name)
    if u < ODD:
        return None
    u = (u - ODD) / (1 - ODD)
    total = 0.0
    for name, weight in zip(LATENT, WEIGHTS, strict=True):
        total += weight
        if u < total:
            return name
    return LATENT[-1]


def _words(seed: str, n: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCABULARY) for _ in range(n))


class SizedResponder:
    """Replies to every RPM prompt with paper-sized outputs (see the module docs); deterministic."""

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        system, human = str(messages[0].content), str(messages[-1].content)
        title = str(schema.get("title", ""))
        if title in ("ExtractedFeatures", "FactorAwareFeatures"):
            return {"features": self._features(human, schema if title == "FactorAwareFeatures" else None)}
        if title == "ProposedFactors":
            kept = set(re.search(r"already kept: (.*?)\.$", system, flags=re.M).group(1).split(", "))
            sample = [latent_factor(line.split(":")[0]) for line in re.findall(r"^.+$", human, flags=re.M)]
            seen = [f for f in dict.fromkeys(sample) if f and f not in kept]
            fillers = [f"{w.title()}ness" for w in VOCABULARY if f"{w.title()}ness" not in kept]
            return {"factors": (seen + [f for f in LATENT if f not in kept and f not in seen] + fillers)[:16]}
        if title in ("FactorAssignment", "FactorAssignments", "ResidualAssignment", "ResidualAssignments"):
            return self._assign(human, title)
        if title == "FeatureJudgments":
            lines = re.findall(r"^(\d+)\. (.*)$", human, flags=re.M)
            return {"reasoning": _words(human, 40), "influences": [self._verdict(int(n), line) for n, line in lines]}
        if title == "PersonalizedAnswer":  # generation: the answer field is named per task (an enum for options)
            key = next(k for k in schema["properties"] if k != "reasoning")
            enum = schema["properties"][key].get("enum")
            return {"reasoning": _words(human, 100), key: enum[0] if enum else _words(human, 9)}
        if "reasoning" in schema.get("properties", {}):  # reasoning paths (features numbered when judged)
            reply: dict[str, Any] = {"reasoning": _words(human, 130)}
            if "influences" in schema["properties"]:
                lines = re.findall(r"^\d+\. (.*?)(?: \[|$)", human, flags=re.M)
                reply["influences"] = [self._verdict(i, line) for i, line in enumerate(lines)]
            return reply
        return dict(fill_schema(schema, human))

    @staticmethod
    def _features(human: str, schema: dict[str, Any] | None) -> list[dict[str, Any]]:
        allowed: list[str] = []
        if schema is not None:
            allowed = schema["properties"]["features"]["items"]["properties"]["factors"]["items"]["enum"]
        features = []
        for j in range(10):
            name = _words(f"{human}:{j}:name", 2)
            feature: dict[str, Any] = {"feature_name": name, "context": _words(f"{human}:{j}:context", 7)}
            if schema is not None:
                factor = latent_factor(name)
                feature["factors"] = [factor] if factor in allowed else []
            features.append(feature)
        return features

    @staticmethod
    def _assign(human: str, title: str) -> dict[str, Any]:
        head, _, body = human.partition("<features>")
        numbers = {line.split(":")[0]: int(n) for n, line in re.findall(r"^C?(\d+)\. (.*)$", head, flags=re.M)}
        residual = title.startswith("Residual")

        def pick(line: str) -> int:
            number = numbers.get(latent_factor(line.split(":")[0]) or "", 0)
            return number or (1 if residual else 0)

        if title in ("FactorAssignment", "ResidualAssignment"):
            return {"assignments": pick(body.replace("</features>", "").strip())}
        lines = re.findall(r"^F(\d+)\. (.*)$", body, flags=re.M)
        return {"assignments": [{"feature": f"F{n}", "factor": f"C{pick(line)}"} for n, line in lines]}

    @staticmethod
    def _verdict(index: int, line: str) -> dict[str, Any]:
        u = _unit(line)
        return {"feature_index": index, "influenced": u < 0.7, "evaluation": "pos" if u < 0.6 else "neu"}


def history(task: str, n: int, user: int) -> list[dict[str, Any]]:
    """``n`` synthetic items of realistic length: survey questions with options (GOQA) or abstracts (LaMP-5)."""
    items = []
    for i in range(n):
        seed = f"{task}:{user}:{i}"
        if task == "goqa":
            options = [_words(f"{seed}:o{k}", 3) for k in range(4)]
            text = f"In your view, {_words(seed, 28)}?"
            items.append({"id": f"i{i}", "input": text, "response": options[i % 4], "options": options})
        else:
            items.append({"id": f"i{i}", "input": _words(seed, 180) + ".", "response": _words(seed + "t", 9)})
    return items


async def measure(task: str, preset: str, n: int, queries: int) -> dict[str, Any]:
    """One user's build of ``n`` items and ``queries`` queries: usage by stage and dollars."""
    model = FakeStructuredChatModel(responder=SizedResponder(), model="counting-fake")
    with tempfile.TemporaryDirectory() as folder:
        store = RPMStore(folder, embeddings=DeterministicFakeEmbedding(size=16))
        rpm = RPM(model, task=task, store=store, preset=preset)
        items = history(task, n + queries, user=n)
        profile = await rpm.abuild_user("u", items[:n])
        query_usage = Usage()
        for item in items[n:]:
            prediction = await rpm.apersonalize("u", item["input"], options=item.get("options"))
            query_usage = query_usage + prediction.usage
    prices = Prices()
    build = profile.cost
    return {
        "task": task,
        "preset": preset,
        "items": n,
        "features": profile.num_features,
        "factors": len(profile.factors),
        "build": {
            "calls": build.llm_calls,
            "input_tokens": build.input_tokens,
            "output_tokens": build.output_tokens,
            "calls_by_stage": {s: build.calls_by_stage.get(s, 0) for s in STAGES},
            "tokens_by_stage": {s: build.tokens_by_stage.get(s, 0) for s in STAGES},
            "dollars": prices.dollars(build),
        },
        "query": {
            "calls": query_usage.llm_calls / queries,
            "input_tokens": query_usage.input_tokens / queries,
            "output_tokens": query_usage.output_tokens / queries,
            "dollars": prices.dollars(query_usage) / queries,
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every (task, N, preset) row, and the default/paper ratios of the same run."""
    rows = []
    for task in args.tasks.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            pair = {p: asyncio.run(measure(task, p, n, args.queries)) for p in ("paper", "default")}
            for preset in ("paper", "default"):
                row = pair[preset]
                row["build_calls_vs_paper"] = round(row["build"]["calls"] / pair["paper"]["build"]["calls"], 3)
                row["build_dollars_vs_paper"] = round(row["build"]["dollars"] / pair["paper"]["build"]["dollars"], 3)
                rows.append(row)
    return {"paper_cost": PAPER_COST, "prices": Prices().model_dump(), "queries_per_user": args.queries, "rows": rows}


def markdown(results: dict[str, Any], command: str) -> str:
    """The human summary: one row per (task, N, preset)."""
    paper = results["paper_cost"]
    lines = [
        "# Cost benchmark",
        "",
        f"Command: `{command}`",
        "",
        "Counting test model (4 characters = 1 token) answering with paper-sized replies (10 features per item, 16 "
        "candidates, ~130-word reasoning paths; 5 % of features fit no factor); RPM's own prompts on synthetic "
        "inputs. Dollars at gpt-4o-mini list prices ($0.15 / 1M input, $0.60 / 1M output). The paper (Table 9, "
        f"GOQA): **${paper['dollars_per_build']}** per user build, **${paper['dollars_per_query']}** per query.",
        "",
        "| task | N | preset | build calls | extract | propose | assign | residual | judge | reason | build "
        "tokens in / out | $ / build | x paper preset | query calls | query tokens in / out | $ / query |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        b, q, by = row["build"], row["query"], row["build"]["calls_by_stage"]
        lines.append(
            f"| {row['task']} | {row['items']} | {row['preset']} | {b['calls']} | "
            + " | ".join(str(by[s]) for s in STAGES)
            + f" | {b['input_tokens']:,} / {b['output_tokens']:,} | ${b['dollars']:.4f} | "
            f"{row['build_dollars_vs_paper']:.2f} $ ({row['build_calls_vs_paper']:.2f} calls) | {q['calls']:.0f} | "
            f"{q['input_tokens']:,.0f} / {q['output_tokens']:,.0f} | ${q['dollars']:.5f} |"
        )
    lines += ["", "Per query both presets make the same two calls (factor-aware extraction, generation)."]
    for row in results["rows"]:
        if row["preset"] == "paper":  # one call per feature: the calls count the features of each pass
            by = row["build"]["calls_by_stage"]
            lines.append(
                f"- {row['task']}, N={row['items']}: {row['features']} features, {by['propose']} PAS round(s), "
                f"{by['residual']} features ({by['residual'] / row['features']:.1%}) left to the residual pass, "
                f"{row['factors']} factors kept."
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table, write ``cost.json`` and ``cost.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="goqa,lamp5", help="comma-separated task presets")
    parser.add_argument("--sizes", default="36,90", help="comma-separated history sizes N")
    parser.add_argument("--queries", type=int, default=4, help="queries per user (averaged)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for cost.json and cost.md")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.cost" + ("" if argv is None else " " + shlex.join(argv))
    if argv is None and len(sys.argv) > 1:
        command = "python -m benchmarks.cost " + shlex.join(sys.argv[1:])
    results = {"command": command, **run(args)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cost.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    text = markdown(results, command)
    (args.out / "cost.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
