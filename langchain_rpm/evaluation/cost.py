"""Cost accounting for evaluation runs: LLM calls, tokens, dollars and wall time, per user build and per query.

Every unit of work the runner does (one user's build for one method, one prediction) is recorded as a
:class:`Spend` — the :class:`~langchain_rpm.types.Usage` a :class:`~langchain_rpm.usage.UsageTracker`
saw plus the wall time. :func:`summarize_costs` turns a method's spends into the paper's cost table
columns ($ per user build, $ per query) at the given :class:`Prices`.

Dollars are computed from tokens at report time, so the same run can be priced for several models.
The default prices are gpt-4o-mini's list prices (the paper's backbone): $0.15 per 1M input tokens
and $0.60 per 1M output tokens. Cached-input discounts are not modelled. The paper's own figures
($0.058 per RPM user build, $0.0037 per query) are in :mod:`~langchain_rpm.evaluation.paper`.

Example:
    >>> from langchain_rpm.types import TokenUsage, Usage
    >>> prices = Prices()
    >>> round(prices.dollars(TokenUsage(llm_calls=1, input_tokens=1_000_000, output_tokens=100_000)), 4)
    0.21
    >>> summary = summarize_costs([Spend(usage=Usage(llm_calls=3, input_tokens=900), seconds=2.0)],
    ...                           [Spend(usage=Usage(llm_calls=1, input_tokens=300, output_tokens=50))],
    ...                           prices)
    >>> summary.calls_per_build, summary.calls_per_query
    (3.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, computed_field

from langchain_rpm.types import TokenUsage, Usage

__all__ = ["CostSummary", "Prices", "Spend", "summarize_costs"]


class Prices(BaseModel):
    """Dollar prices per million tokens (default: gpt-4o-mini, $0.15 in / $0.60 out).

    Example:
        >>> Prices(input_per_million=2.5, output_per_million=10.0).dollars(
        ...     TokenUsage(input_tokens=1000, output_tokens=100))
        0.0035
    """

    model_config = ConfigDict(frozen=True)

    input_per_million: float = Field(default=0.15, ge=0, description="$ per 1M prompt (input) tokens.")
    output_per_million: float = Field(default=0.60, ge=0, description="$ per 1M completion (output) tokens.")

    def dollars(self, usage: TokenUsage) -> float:
        """The price of ``usage``."""
        return (usage.input_tokens * self.input_per_million + usage.output_tokens * self.output_per_million) / 1e6


class Spend(BaseModel):
    """What one unit of work cost: LLM calls and tokens (in total and by RPM stage), and wall-clock seconds.

    Example:
        >>> (Spend(seconds=1.0) + Spend(usage=Usage(llm_calls=2), seconds=0.5)).usage.llm_calls
        2
    """

    usage: Usage = Field(default_factory=Usage)
    seconds: float = Field(default=0.0, ge=0)

    def __add__(self, other: Spend) -> Spend:
        return Spend(usage=self.usage + other.usage, seconds=self.seconds + other.seconds)


class CostSummary(BaseModel):
    """A method's cost on one task (or summed over tasks): totals and the per-build / per-query means.

    ``builds`` counts users prepared (a profile build, an index); methods without a preparation step
    still record one zero-cost build per user, so ``dollars_per_build`` is 0 for them.
    """

    builds: int = 0
    queries: int = 0
    build_usage: Usage = Field(default_factory=Usage)
    query_usage: Usage = Field(default_factory=Usage)
    build_seconds: float = 0.0
    query_seconds: float = 0.0
    build_dollars: float = 0.0
    query_dollars: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_dollars(self) -> float:
        """Everything the method spent: builds plus queries."""
        return self.build_dollars + self.query_dollars

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dollars_per_build(self) -> float:
        """Mean $ per user build (the paper's "$/user build")."""
        return self.build_dollars / self.builds if self.builds else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dollars_per_query(self) -> float:
        """Mean $ per query (the paper's "$/query")."""
        return self.query_dollars / self.queries if self.queries else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def calls_per_build(self) -> float:
        """Mean LLM calls per user build."""
        return self.build_usage.llm_calls / self.builds if self.builds else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def calls_per_query(self) -> float:
        """Mean LLM calls per query."""
        return self.query_usage.llm_calls / self.queries if self.queries else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tokens_per_build(self) -> tuple[float, float]:
        """Mean ``(input, output)`` tokens per user build."""
        n = self.builds or 1
        return self.build_usage.input_tokens / n, self.build_usage.output_tokens / n

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tokens_per_query(self) -> tuple[float, float]:
        """Mean ``(input, output)`` tokens per query."""
        n = self.queries or 1
        return self.query_usage.input_tokens / n, self.query_usage.output_tokens / n

    @computed_field  # type: ignore[prop-decorator]
    @property
    def seconds_per_build(self) -> float:
        """Mean wall seconds per user build."""
        return self.build_seconds / self.builds if self.builds else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def seconds_per_query(self) -> float:
        """Mean wall seconds per query."""
        return self.query_seconds / self.queries if self.queries else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dollars_per_query_amortized(self) -> float:
        """Total $ divided by the number of queries: what one answer cost including its share of builds."""
        return self.total_dollars / self.queries if self.queries else 0.0

    def __add__(self, other: CostSummary) -> CostSummary:
        return CostSummary(
            builds=self.builds + other.builds,
            queries=self.queries + other.queries,
            build_usage=self.build_usage + other.build_usage,
            query_usage=self.query_usage + other.query_usage,
            build_seconds=self.build_seconds + other.build_seconds,
            query_seconds=self.query_seconds + other.query_seconds,
            build_dollars=self.build_dollars + other.build_dollars,
            query_dollars=self.query_dollars + other.query_dollars,
        )


def summarize_costs(builds: Sequence[Spend], queries: Sequence[Spend], prices: Prices | None = None) -> CostSummary:
    """Sum build and query spends and price them.

    Args:
        builds: One spend per user build (profile build, retrieval index, or nothing).
        queries: One spend per prediction.
        prices: Token prices (default gpt-4o-mini).
    """
    prices = prices or Prices()
    build_usage = sum((s.usage for s in builds), Usage())
    query_usage = sum((s.usage for s in queries), Usage())
    return CostSummary(
        builds=len(builds),
        queries=len(queries),
        build_usage=build_usage,
        query_usage=query_usage,
        build_seconds=sum(s.seconds for s in builds),
        query_seconds=sum(s.seconds for s in queries),
        build_dollars=prices.dollars(build_usage),
        query_dollars=prices.dollars(query_usage),
    )
