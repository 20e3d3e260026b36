"""Batched Assign and residual prompts: features listed as ``F1``, ``F2``... and replies read back by identifier.

A batched reply names each feature by its identifier and echoes its name; :func:`read_batch` places an
entry by the identifier unless the echoed name is another feature of the batch (then the name decides),
so a reply that shifts a line cannot move a feature to its neighbour's factor.

Example:
    >>> from langchain_rpm.prompts import NumberedAssignment
    >>> pool = [Feature(name="Taste", context="sweet"), Feature(name="Price", context="cheap")]
    >>> print(numbered_features(pool, [0, 1]))
    F1. Taste: sweet
    F2. Price: cheap
    >>> read_batch(pool, [0, 1], [NumberedAssignment(feature="F1", feature_name="Price", factor="C2")])
    {1: 2}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig

from langchain_rpm._plans import Plan, gather
from langchain_rpm.prompts import NumberedAssignment
from langchain_rpm.stages.base import StructuredCaller
from langchain_rpm.types import Feature


def feature_line(feature: Feature) -> str:
    """A feature as Propose, Assign and the residual pass see it: ``name: context``."""
    return f"{feature.name}: {feature.context}" if feature.context else feature.name


def numbered_features(pool: Sequence[Feature], batch: Sequence[int]) -> str:
    """The features of ``batch`` (indices into ``pool``), one ``F<n>. name: context`` line each."""
    return "\n".join(f"F{number}. {feature_line(pool[i])}" for number, i in enumerate(batch, 1))


def read_batch(pool: Sequence[Feature], batch: Sequence[int], entries: Sequence[NumberedAssignment]) -> dict[int, int]:
    """Pool index -> factor number for the entries of a batched reply (the first entry of a feature wins).

    Entries naming no feature of the batch, or no factor number, are ignored.
    """
    by_name = {normalized(pool[i].name): i for i in batch}
    found: dict[int, int] = {}
    for entry in entries:
        number, factor = entry.number("feature"), entry.number("factor")
        index = batch[number - 1] if number is not None and 1 <= number <= len(batch) else None
        named = by_name.get(normalized(entry.feature_name))
        if index is None or (named is not None and normalized(pool[index].name) != normalized(entry.feature_name)):
            index = named
        if index is not None and factor is not None:
            found.setdefault(index, factor)
    return found


def normalized(text: str) -> str:
    """Lowercase, single-spaced: how names are compared."""
    return " ".join(text.lower().split())


def pass_call(
    caller: StructuredCaller[Any],
    prompt: Callable[[], PromptValue | Sequence[Any]],
    config: RunnableConfig,
    batch: tuple[Sequence[Feature], Sequence[int]] | None = None,
) -> Plan[Any]:
    """One call of an Assign or residual pass: the number a one-feature reply gives, or a batch's :func:`read_batch`.

    The prompt is rendered when the call starts and the reply read at once, so a pass keeps no prompt
    before its call and no reply model until its last call ends (objects a full collection walks).

    Example:
        >>> from langchain_rpm._plans import run
        >>> from langchain_rpm.prompts import FactorAssignment
        >>> from langchain_rpm.testing import FakeStructuredChatModel
        >>> caller = StructuredCaller(FakeStructuredChatModel(responder=lambda m, s: {"assignments": 2}), FactorAssignment)
        >>> run(pass_calls([pass_call(caller, lambda: [("human", "Taste: the flavor")], {})]))
        [2]
    """
    reply = yield from caller.plan(prompt(), config)
    return reply.assignments if batch is None else read_batch(*batch, reply.assignments)


def pass_calls(plans: Sequence[Plan[Any]]) -> Plan[list[Any]]:
    """A pass's calls, run concurrently: results or exceptions, in order; raised only when every call failed."""
    replies = yield from gather(plans, return_exceptions=True)
    if replies and all(isinstance(r, Exception) for r in replies):
        raise replies[0]
    return replies
