"""Small-count tests for "did this factor's answers change?": exact tests and Holm's correction.

A factor's answers in the recent window and in the older items form a 2 x k contingency table (rows:
recent / older; columns: answers). With both margins fixed, the table's probability is
multivariate hypergeometric, ``prod_j C(c_j, x_j) / C(N, r)``; the p-value is the total probability
of every table no more probable than the observed one (Freeman & Halton 1951, Fisher's exact test
for 2 x k). For ratings, an exact permutation test of the difference in means (Pitman's) uses the
same enumeration with another statistic: it has far more power against a shift in level than a test
that treats 1-5 as unordered labels. Tables are enumerated exactly up to ``budget`` of them; beyond it, a seeded Monte Carlo
permutation estimate of the same p-value is used (``(1 + hits) / (1 + draws)``, never 0). No SciPy
needed: the counts here are tens, the enumeration milliseconds.

Example:
    >>> round(fisher_freeman_halton([[3, 0], [0, 3]]).p_value, 4)  # Fisher's exact, two-sided: 2 / C(6, 3)
    0.1
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

RELATIVE_TOLERANCE = 1e-7
"""Tables whose probability is within this factor of the observed one's count as "no more probable"."""


@dataclass(frozen=True)
class ExactResult:
    """A p-value and how it was computed."""

    p_value: float
    method: Literal["exact", "monte-carlo"]


def fisher_freeman_halton(
    table: Sequence[Sequence[int]], *, budget: int = 200_000, draws: int = 5_000, seed: int = 0
) -> ExactResult:
    """The Freeman-Halton exact p-value of a 2 x k table of counts (Monte Carlo past ``budget`` tables).

    Example:
        >>> fisher_freeman_halton([[4, 0, 0], [0, 4, 4]]).p_value < 0.01
        True
        >>> fisher_freeman_halton([[2, 2], [2, 2]]).p_value
        1.0
    """
    top, bottom = (list(row) for row in table)
    columns = [a + b for a, b in zip(top, bottom, strict=True) if a + b]
    top = [a for a, b in zip(top, bottom, strict=True) if a + b]
    r, n = sum(top), sum(columns)
    if r in (0, n) or len(columns) < 2:
        return ExactResult(1.0, "exact")
    limit = _log_probability(top, columns, r, n) + _log_choose(n, r) + math.log1p(RELATIVE_TOLERANCE)

    def extreme(x: Sequence[int], log_weight: float) -> bool:
        return log_weight <= limit  # the table is no more probable than the observed one

    return _p_value(columns, r, extreme, budget, draws, seed)


def permutation_mean_test(
    recent: Sequence[float], rest: Sequence[float], *, budget: int = 200_000, draws: int = 5_000, seed: int = 0
) -> ExactResult:
    """Two-sided exact permutation test of "the recent answers have the same mean as the rest" (ratings).

    Every way of dealing the pooled answers into groups of the same sizes is equally likely under the
    null; the p-value is the probability of a recent-group mean at least as far from the pooled mean.

    Example:
        >>> permutation_mean_test([5, 5, 4], [1, 2, 1, 1, 2]).p_value  # 1 of C(8, 3) = 56 deals is as extreme
        0.017857142857
    """
    values = sorted(set(recent) | set(rest))
    top = [sum(1 for v in recent if v == value) for value in values]
    columns = [top[j] + sum(1 for v in rest if v == value) for j, value in enumerate(values)]
    r, n = len(recent), len(recent) + len(rest)
    if r in (0, n) or len(values) < 2:
        return ExactResult(1.0, "exact")
    centre = r * sum(c * v for c, v in zip(columns, values, strict=True)) / n
    observed = abs(sum(x * v for x, v in zip(top, values, strict=True)) - centre) - 1e-9

    def extreme(x: Sequence[int], log_weight: float) -> bool:
        return abs(sum(k * v for k, v in zip(x, values, strict=True)) - centre) >= observed

    return _p_value(columns, r, extreme, budget, draws, seed)


Extreme = Callable[[Sequence[int], float], bool]
"""Whether a top row counts as extreme, given the row and its log-weight ``sum_j log C(c_j, x_j)``."""


def _p_value(columns: list[int], r: int, extreme: Extreme, budget: int, draws: int, seed: int) -> ExactResult:
    log_choose = [[_log_choose(c, x) for x in range(c + 1)] for c in columns]  # looked up, never recomputed
    exact = _enumerated(columns, r, extreme, budget, log_choose) if _tables(columns, r) <= budget else None
    if exact is not None:
        return ExactResult(min(1.0, round(exact, 12)), "exact")
    return ExactResult(_monte_carlo(columns, r, extreme, draws, seed, log_choose), "monte-carlo")


def _log_probability(top: Sequence[int], columns: Sequence[int], r: int, n: int) -> float:
    return sum(_log_choose(c, x) for c, x in zip(columns, top, strict=True)) - _log_choose(n, r)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _tables(columns: list[int], r: int) -> int:
    """How many top rows deal ``r`` items over ``columns``, counted without listing them.

    Listing past the budget only to fall back to Monte Carlo cost seconds on a 15-label task.
    """
    ways = [1] + [0] * r  # ways[m]: top rows of the columns so far that deal m items
    for c in columns:
        prefix = [0, *itertools.accumulate(ways)]
        ways = [prefix[m + 1] - prefix[max(0, m - c)] for m in range(r + 1)]
    return ways[r]


def _enumerated(
    columns: list[int], r: int, extreme: Extreme, budget: int, log_choose: list[list[float]]
) -> float | None:
    """Total probability of the top rows ``x`` (``r`` items dealt over ``columns``) that are ``extreme``.

    ``None`` when there are more than ``budget`` of them (then :func:`_monte_carlo` estimates it). A row's
    log-weight is summed as the row is dealt, so each listed table costs one look-up per column.
    """
    tail = [sum(columns[j:]) for j in range(len(columns))] + [0]
    base = _log_choose(sum(columns), r)
    last = len(columns) - 1
    total, seen = 0.0, 0
    stack: list[tuple[list[int], int, float]] = [([], r, 0.0)]  # (top row so far, still to deal, log-weight)
    while stack:
        row, need, log_weight = stack.pop()
        j = len(row)
        if j == last:
            seen += 1
            if seen > budget:
                return None
            full_weight = log_weight + log_choose[j][need]
            if extreme([*row, need], full_weight):
                total += math.exp(full_weight - base)
            continue
        for x in range(max(0, need - tail[j + 1]), min(columns[j], need) + 1):
            stack.append(([*row, x], need - x, log_weight + log_choose[j][x]))
    return total


def _monte_carlo(
    columns: list[int], r: int, extreme: Extreme, draws: int, seed: int, log_choose: list[list[float]]
) -> float:
    """Permutation estimate of the same p-value: shuffle the pooled items, deal ``r`` to the top row."""
    pool = [j for j, c in enumerate(columns) for _ in range(c)]
    rng = random.Random(seed)
    hits = 0
    for _ in range(draws):
        rng.shuffle(pool)
        top = [0] * len(columns)
        for j in pool[:r]:
            top[j] += 1
        hits += extreme(top, sum(weights[x] for weights, x in zip(log_choose, top, strict=True)))
    return (1 + hits) / (1 + draws)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given): reject where adjusted <= alpha.

    Example:
        >>> holm([0.5])
        [0.5]
    """
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return [round(p, 12) for p in adjusted]
