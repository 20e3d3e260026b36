"""Stage 2: factor aggregation — LLM clustering of a user's features into factors, with statistics.

Unique feature names are numbered and clustered by the LLM in chunks of ``chunk_size``; when there is
more than one chunk, the chunk-level factors are clustered again (same prompt) until one level fits,
so a 1,000-item history never overflows a context window. Every feature lands in exactly one
factor: unassigned features fall back to their proposed factor when it exists, else to ``Other``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm.errors import ConfigurationError
from langchain_rpm.plans import CallLimiter, Plan, gather
from langchain_rpm.prompts import FACTOR_CLUSTERING, FactorClusters
from langchain_rpm.stages.base import RPMStage, StructuredCaller
from langchain_rpm.stages.statistics import factor_statistics
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import OTHER_FACTOR, Factor, Feature, HistoryItem


class AggregationInput(BaseModel):
    """A user's history items and the features extracted for each (keyed by item id)."""

    items: list[HistoryItem]
    features: dict[str, list[Feature]]


class AggregationResult(BaseModel):
    """The user's factors with statistics, and every item's features with their final factor."""

    factors: list[Factor]
    features: dict[str, list[Feature]]


class _Entry(BaseModel):
    """One thing to cluster: a feature (or, at higher levels, a factor) with a proposed group."""

    name: str
    hint: str = ""


class FactorAggregator(RPMStage[AggregationInput, AggregationResult]):
    """Groups a user's features into factors with the LLM and computes the factor statistics.

    Args:
        llm: Any chat model with structured output.
        task: The task spec (decides which statistics apply).
        method: Structured-output method.
        chunk_size: Most entries clustered in one call; larger sets are chunked and merged.
        max_factors: Upper bound on the number of factors asked for.
        max_retries: Retries for replies that fail the schema.

    Example:
        >>> from langchain_rpm import LAMP3
        >>> from langchain_rpm.testing import demo_chat_model
        >>> from langchain_rpm.types import HistoryItem, Feature
        >>> aggregator = FactorAggregator(demo_chat_model(), LAMP3)
        >>> result = aggregator.invoke({
        ...     "items": [HistoryItem(id="1", input="Arrived late.", response="2")],
        ...     "features": {"1": [Feature(name="late delivery", factor="Shipping")]},
        ... })
        >>> [(f.name, f.statistics.support) for f in result.factors]
        [('Shipping', 1)]
    """

    input_model = AggregationInput
    output_type = AggregationResult

    def __init__(
        self,
        llm: BaseChatModel,
        task: TaskSpec,
        *,
        method: str | None = None,
        chunk_size: int = 150,
        max_factors: int = 10,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
    ) -> None:
        """Configure the clustering."""
        if chunk_size < 2:
            raise ConfigurationError(f"chunk_size must be at least 2, got {chunk_size}")
        self.task = task
        self.chunk_size = chunk_size
        self.max_factors = max_factors
        self.caller = StructuredCaller(
            llm, FactorClusters, stage="propose", method=method, max_retries=max_retries, limiter=limiter
        )

    def prompt(self, entries: Sequence[_Entry], *, level: int = 0) -> PromptValue:
        """The clustering prompt for one chunk (``level`` 0 clusters features, higher levels factors)."""
        if level == 0:
            lines = [f"{i}: {e.name}" + (f" (proposed: {e.hint})" if e.hint else "") for i, e in enumerate(entries)]
        else:
            lines = [f"{i}: {e.name}" + (f" — {e.hint}" if e.hint else "") for i, e in enumerate(entries)]
        return FACTOR_CLUSTERING.invoke(
            {
                "item_kind": "response-influential features" if level == 0 else "preliminary factors",
                "instruction": self.task.instruction,
                "max_factors": self.max_factors,
                "items": "\n".join(lines),
            }
        )

    def plan(self, input: AggregationInput, config: RunnableConfig) -> Plan[AggregationResult]:
        """Cluster the unique features (level by level when they need several chunks), then compute statistics."""
        entries = _unique_features(input.features)
        groups = (yield from self._cluster(entries, 0, config)) if entries else {}
        return self._finish(input, entries, groups)

    def _cluster(self, entries: list[_Entry], level: int, config: RunnableConfig) -> Plan[dict[int, _Entry]]:
        chunks = self._chunks(entries)
        results = yield from gather([self.caller.plan(self.prompt(chunk, level=level), config) for chunk in chunks])
        clusters, member_of = _flatten(chunks, results, level)
        if len(chunks) == 1 or len(clusters) >= len(entries):
            return {i: clusters[c] for i, c in member_of.items()}
        merged = yield from self._cluster(clusters, level + 1, config)
        return {i: merged[c] for i, c in member_of.items()}

    def _chunks(self, entries: list[_Entry]) -> list[list[_Entry]]:
        return [entries[i : i + self.chunk_size] for i in range(0, len(entries), self.chunk_size)]

    def _finish(self, input: AggregationInput, entries: list[_Entry], groups: dict[int, _Entry]) -> AggregationResult:
        factor_of = {entries[i].name.lower(): group.name for i, group in groups.items()}
        descriptions: dict[str, str] = {}
        members: dict[str, list[str]] = {}
        for i, group in sorted(groups.items()):
            descriptions.setdefault(group.name, group.hint)
            members.setdefault(group.name, []).append(entries[i].name)
        features = {
            item_id: [f.model_copy(update={"factor": factor_of[f.name.lower()]}) for f in feats]
            for item_id, feats in input.features.items()
        }
        item_factors = {item_id: {f.factor for f in feats} for item_id, feats in features.items()}
        stats = factor_statistics(self.task, input.items, item_factors, list(members))
        factors = [
            Factor(name=name, description=descriptions[name], features=names, statistics=stats[name])
            for name, names in sorted(members.items(), key=lambda kv: -stats[kv[0]].support)
        ]
        return AggregationResult(factors=factors, features=features)


def _unique_features(features: dict[str, list[Feature]]) -> list[_Entry]:
    """Unique feature names (case-insensitive, first spelling kept) with their most proposed factor."""
    spelling: dict[str, str] = {}
    hints: dict[str, Counter[str]] = {}
    for feats in features.values():
        for f in feats:
            key = f.name.lower()
            spelling.setdefault(key, f.name)
            if f.factor:
                hints.setdefault(key, Counter())[f.factor] += 1
    return [
        _Entry(name=name, hint=hints[key].most_common(1)[0][0] if key in hints else "")
        for key, name in spelling.items()
    ]


def _assign(entries: list[_Entry], clusters: FactorClusters, level: int) -> dict[int, _Entry]:
    """Map every entry index to exactly one cluster (as an entry: name + description).

    Entries the LLM left out go to their proposed factor when it exists (features, level 0), keep
    their own name (factors, higher levels), or else go to ``Other``.
    """
    assigned: dict[int, _Entry] = {}
    by_name: dict[str, _Entry] = {}
    for cluster in clusters.factors:
        name = " ".join(cluster.name.split()) or OTHER_FACTOR
        group = by_name.setdefault(name.lower(), _Entry(name=name, hint=cluster.description.strip()))
        for index in cluster.members:
            if 0 <= index < len(entries) and index not in assigned:
                assigned[index] = group
    for index, entry in enumerate(entries):
        if index in assigned:
            continue
        if level > 0:
            assigned[index] = by_name.setdefault(entry.name.lower(), entry)
        else:
            fallback = by_name.get(entry.hint.lower()) if entry.hint else None
            assigned[index] = fallback or by_name.setdefault(
                OTHER_FACTOR.lower(), _Entry(name=OTHER_FACTOR, hint="Features that fit no other factor.")
            )
    return assigned


def _flatten(
    chunks: list[list[_Entry]], results: Sequence[FactorClusters], level: int
) -> tuple[list[_Entry], dict[int, int]]:
    """Chunk-level clusters as entries for the next level, and each original index's cluster index."""
    clusters: list[_Entry] = []
    index_of: dict[str, int] = {}
    member_of: dict[int, int] = {}
    offset = 0
    for chunk, result in zip(chunks, results, strict=True):
        for local, group in _assign(chunk, result, level).items():
            key = group.name.lower()
            if key not in index_of:
                index_of[key] = len(clusters)
                clusters.append(_Entry(name=group.name, hint=group.hint))
            member_of[offset + local] = index_of[key]
        offset += len(chunk)
    return clusters, member_of
