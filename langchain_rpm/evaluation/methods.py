"""Every evaluated method by name, the paper's tables as method groups, and name resolution.

========================  ================================================================
group                     methods (the rows of the paper's table)
========================  ================================================================
``table1``                zero_shot, icl, rag, pag, and each "+CoT": zero_shot_cot,
                          icl_cot, rag_cot, pag_cot; rpm_no_reasoning, rpm
``table2``                zero_shot, ladder_features_factors, ladder_pairs,
                          ladder_example_features, ladder_generic_cot, rpm
``table3``                source H_u: icl (random), bm25, rag (q'), raw_by_features (G_q');
                          source S_u: reasoned_random, reasoned_bm25, reasoned_by_query, rpm
``paper`` (the default)   all of the above, each once
``all``                   the same as ``paper`` (every built-in method)
========================  ================================================================

HYDRA and Fermi (Table 1) train or optimise per user and are not implemented.

Example:
    >>> list(resolve_methods("table3"))[4:]
    ['reasoned_random', 'reasoned_bm25', 'reasoned_by_query', 'rpm']
    >>> list(resolve_methods("zero_shot, rpm"))
    ['zero_shot', 'rpm']
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_rpm.evaluation.ablations import (
    LadderExampleFeatures,
    LadderFeaturesFactors,
    LadderGenericCoT,
    LadderPairs,
    RawByFeatures,
    ReasonedBM25,
    ReasonedByQuery,
    ReasonedRandom,
    RPMMethod,
    RPMNoReasoning,
)
from langchain_rpm.evaluation.baselines import BM25, ICL, PAG, RAG, ICLCoT, PAGCoT, RAGCoT, ZeroShot, ZeroShotCoT
from langchain_rpm.evaluation.method import MethodFactory

__all__ = ["ALL_METHODS", "METHODS", "METHOD_GROUPS", "PAPER_METHODS", "resolve_methods"]

METHODS: dict[str, MethodFactory] = {
    "zero_shot": ZeroShot,
    "icl": ICL,
    "rag": RAG,
    "pag": PAG,
    "zero_shot_cot": ZeroShotCoT,
    "icl_cot": ICLCoT,
    "rag_cot": RAGCoT,
    "pag_cot": PAGCoT,
    "rpm_no_reasoning": RPMNoReasoning,
    "ladder_features_factors": LadderFeaturesFactors,
    "ladder_pairs": LadderPairs,
    "ladder_example_features": LadderExampleFeatures,
    "ladder_generic_cot": LadderGenericCoT,
    "bm25": BM25,
    "raw_by_features": RawByFeatures,
    "reasoned_random": ReasonedRandom,
    "reasoned_bm25": ReasonedBM25,
    "reasoned_by_query": ReasonedByQuery,
    "rpm": RPMMethod,
}
"""Every built-in method by name, in the order reports list them."""

METHOD_GROUPS: dict[str, tuple[str, ...]] = {
    "table1": (
        "zero_shot",
        "icl",
        "rag",
        "pag",
        "zero_shot_cot",
        "icl_cot",
        "rag_cot",
        "pag_cot",
        "rpm_no_reasoning",
        "rpm",
    ),
    "table2": (
        "zero_shot",
        "ladder_features_factors",
        "ladder_pairs",
        "ladder_example_features",
        "ladder_generic_cot",
        "rpm",
    ),
    "table3": (
        "icl",
        "bm25",
        "rag",
        "raw_by_features",
        "reasoned_random",
        "reasoned_bm25",
        "reasoned_by_query",
        "rpm",
    ),
}
PAPER_METHODS: tuple[str, ...] = tuple(METHODS)
"""The methods of the paper's Tables 1-3 (the default)."""
METHOD_GROUPS["paper"] = PAPER_METHODS
METHOD_GROUPS["all"] = tuple(METHODS)

ALL_METHODS: tuple[str, ...] = tuple(METHODS)


def resolve_methods(methods: Sequence[str | MethodFactory] | str | None) -> dict[str, MethodFactory]:
    """Method or group names (or a comma-separated string, or custom factories) to ``{name: factory}``.

    ``None`` means the ``paper`` group. A custom factory is keyed by its ``__name__`` here; the report
    uses the ``name`` of the method it returns.
    """
    if methods is None:
        methods = "paper"
    items = [m.strip() for m in methods.split(",") if m.strip()] if isinstance(methods, str) else list(methods)
    if not items:
        raise ValueError(f"no methods given; choose from {list(METHODS)} or a group {list(METHOD_GROUPS)}")
    resolved: dict[str, MethodFactory] = {}
    for item in items:
        if not isinstance(item, str):
            resolved[getattr(item, "__name__", repr(item))] = item
        elif item in METHOD_GROUPS:
            resolved.update((name, METHODS[name]) for name in METHOD_GROUPS[item] if name not in resolved)
        elif item in METHODS:
            resolved[item] = METHODS[item]
        else:
            raise ValueError(f"unknown method {item!r}; choose from {list(METHODS)} or a group {list(METHOD_GROUPS)}")
    return resolved
