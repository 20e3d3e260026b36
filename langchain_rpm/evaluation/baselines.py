"""The methods the evaluation runner compares: baselines, the paper's ablation ladder, and RPM itself.

Every method implements :class:`Method` — ``prepare_user`` once per user (a profile build, a
retrieval index, or nothing), then ``predict`` per query, returning the final answer string after
``task.check`` — and is created from a :class:`~langchain_rpm.evaluation.method.MethodContext` by a factory in :data:`METHODS`:

=============================  ==========================================================================
name                           what the model sees for a query
=============================  ==========================================================================
``zero_shot``                  the task and the input
``random_k``                   + ``k`` random (input, answer) pairs of the user (seeded)
``bm25``                       + the ``k`` pairs whose inputs best match the query by BM25 (LaMP's retriever)
``dense``                      + the ``k`` pairs nearest by cosine of the store's embeddings (input text)
``features_factors``           query features + the user's factors with statistics (no examples)
``features_factors_pairs``     + ``k`` (input, answer) pairs found by *feature* retrieval, no reasoning
``features_factors_pairs_cot`` + a generic chain of thought before the answer (not the user's reasoning)
``rpm``                        the full method: ``RPM.abuild_user`` + ``RPM.apersonalize``
=============================  ==========================================================================

The four profile-based methods share one profile build per user
(:class:`~langchain_rpm.evaluation.method.SharedProfiles`); each is charged its full cost. Methods without reasoning answer with :class:`DirectAnswer` (answer only),
the chain-of-thought ablation with RPM's :class:`~langchain_rpm.prompts.GeneratedAnswer`
(reasoning, then answer), so "no reasoning" really means none. Both go through
:class:`~langchain_rpm.models.StructuredCaller` and ``task.check``, exactly as RPM's generator does.

Example:
    >>> import tempfile, asyncio
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm import LAMP2, RPMStore
    >>> from langchain_rpm.evaluation import demo_dataset
    >>> from langchain_rpm.testing import demo_chat_model
    >>> ctx = MethodContext(demo_chat_model(), LAMP2,
    ...                     RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> method = METHODS["random_k"](ctx)
    >>> user = demo_dataset("lamp2")[0]
    >>> asyncio.run(method.predict(user, user.queries[0])) in LAMP2.labels
    True
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig

from langchain_rpm.evaluation.cost import Spend
from langchain_rpm.evaluation.datasets import EvalQuery, EvalUser
from langchain_rpm.evaluation.method import Method, MethodContext, MethodFactory
from langchain_rpm.personalization import Personalizer
from langchain_rpm.plans import arun
from langchain_rpm.prompts import (
    FEATURES_FACTORS,
    FEATURES_FACTORS_PAIRS,
    FEATURES_FACTORS_PAIRS_COT,
    FEW_SHOT,
    ZERO_SHOT,
    DirectAnswer,
    GeneratedAnswer,
    render_factors,
    render_features,
    render_input,
    render_pairs,
)

__all__ = [
    "ALL_METHODS",
    "FEATURES_FACTORS",
    "FEATURES_FACTORS_PAIRS",
    "FEATURES_FACTORS_PAIRS_COT",
    "FEW_SHOT",
    "METHODS",
    "ZERO_SHOT",
    "DirectAnswer",
    "Method",
    "MethodContext",
    "MethodFactory",
    "render_pairs",
    "resolve_methods",
]


class _PromptMethod:
    """Shared plumbing: fill a prompt, call the model for an answer, check it against the task."""

    name = ""

    def __init__(self, ctx: MethodContext) -> None:
        self.ctx = ctx
        self.task = ctx.task
        self._direct = ctx.caller(DirectAnswer)
        self._reasoned = ctx.caller(GeneratedAnswer)

    async def prepare_user(self, user: EvalUser, config: RunnableConfig | None = None) -> Spend | None:
        return None

    async def _answer(
        self,
        template: ChatPromptTemplate,
        query: EvalQuery,
        config: RunnableConfig | None,
        values: dict[str, str],
        *,
        reasoned: bool = False,
    ) -> str:
        prompt = template.invoke(
            {
                "instruction": self.task.instruction,
                "answer_format": self.task.answer_format(query.options),
                "fenced_input": render_input(query.input, query.options),
                **values,
            }
        )
        caller = self._reasoned if reasoned else self._direct
        reply = await arun(caller.plan(prompt, config))
        return self.task.check(reply.answer, query.options).answer


class ZeroShot(_PromptMethod):
    """The task and the input, nothing about the user."""

    name = "zero_shot"

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        return await self._answer(ZERO_SHOT, query, config, {})


class _FewShot(_PromptMethod):
    """``k`` (input, answer) pairs of the user in the prompt, chosen by :meth:`select`."""

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        indices = await self.select(user, query)
        pairs = [(user.history[i].input, user.history[i].options, user.history[i].response) for i in indices]
        return await self._answer(FEW_SHOT, query, config, {"pairs": render_pairs(pairs)})

    async def select(self, user: EvalUser, query: EvalQuery) -> list[int]:
        raise NotImplementedError


class RandomK(_FewShot):
    """``k`` random history pairs, seeded by ``(seed, user, query)``."""

    name = "random_k"

    async def select(self, user: EvalUser, query: EvalQuery) -> list[int]:
        rng = random.Random(f"{self.ctx.seed}:{user.user_id}:{query.id}")
        return rng.sample(range(len(user.history)), min(self.ctx.k, len(user.history)))


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _top_k(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` highest scores, ties broken by position (deterministic)."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


class BM25(_FewShot):
    """The ``k`` pairs whose inputs score highest by BM25 (``rank_bm25.BM25Okapi``) against the query."""

    name = "bm25"

    def __init__(self, ctx: MethodContext) -> None:
        super().__init__(ctx)
        self._indexes: dict[str, Any] = {}

    async def prepare_user(self, user: EvalUser, config: RunnableConfig | None = None) -> Spend | None:
        try:
            from rank_bm25 import BM25Okapi
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("the bm25 method needs `rank-bm25`: pip install 'langchain-rpm[eval]'") from exc
        corpus = [_tokens(item.input) for item in user.history]
        self._indexes[user.user_id] = BM25Okapi(corpus) if any(corpus) else None
        return None

    async def select(self, user: EvalUser, query: EvalQuery) -> list[int]:
        if user.user_id not in self._indexes:
            await self.prepare_user(user, {})
        index = self._indexes[user.user_id]
        if index is None:
            return list(range(min(self.ctx.k, len(user.history))))
        return _top_k(list(index.get_scores(_tokens(query.input))), self.ctx.k)


class Dense(_FewShot):
    """The ``k`` pairs whose input text is nearest (cosine) to the query text, with the store's embeddings."""

    name = "dense"

    def __init__(self, ctx: MethodContext) -> None:
        super().__init__(ctx)
        self._vectors: dict[str, np.ndarray[Any, Any]] = {}

    async def prepare_user(self, user: EvalUser, config: RunnableConfig | None = None) -> Spend | None:
        vectors = await self.ctx.store.embeddings.aembed_documents([item.input for item in user.history])
        self._vectors[user.user_id] = _unit(np.asarray(vectors, dtype=np.float64))
        return None

    async def select(self, user: EvalUser, query: EvalQuery) -> list[int]:
        if user.user_id not in self._vectors:
            await self.prepare_user(user, {})
        vector = _unit(np.asarray([await self.ctx.store.embeddings.aembed_query(query.input)], dtype=np.float64))
        return _top_k((self._vectors[user.user_id] @ vector[0]).tolist(), self.ctx.k)


def _unit(matrix: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class FeaturesFactors(_PromptMethod):
    """The ablation ladder: query features + factors, optionally + feature-retrieved pairs, + generic CoT."""

    def __init__(self, ctx: MethodContext, *, pairs: bool = False, cot: bool = False) -> None:
        super().__init__(ctx)
        self.pairs, self.cot = pairs, cot
        self.name = "features_factors" + ("_pairs" if pairs else "") + ("_cot" if cot else "")

    async def prepare_user(self, user: EvalUser, config: RunnableConfig | None = None) -> Spend | None:
        return (await self.ctx.profiles.ensure(user))[1]

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        profile, _ = await self.ctx.profiles.ensure(user)
        personalizer = Personalizer(self.ctx.profiles.rpm.components)
        features = await arun(personalizer.features_plan(profile, query.input, query.options, config))
        values = {"factors": render_factors(profile.factors, self.task), "features": render_features(features)}
        if not self.pairs:
            return await self._answer(FEATURES_FACTORS, query, config, values)
        hits = await arun(personalizer.search_plan(user.user_id, features, query.input))
        values["pairs"] = render_pairs([(h.example.input, h.example.options, h.example.answer) for h in hits])
        template = FEATURES_FACTORS_PAIRS_COT if self.cot else FEATURES_FACTORS_PAIRS
        return await self._answer(template, query, config, values, reasoned=self.cot)


class RPMMethod:
    """The full method through the :class:`~langchain_rpm.RPM` facade (shared profile, ``apersonalize``)."""

    name = "rpm"

    def __init__(self, ctx: MethodContext) -> None:
        self.ctx = ctx

    async def prepare_user(self, user: EvalUser, config: RunnableConfig | None = None) -> Spend | None:
        return (await self.ctx.profiles.ensure(user))[1]

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        prediction = await self.ctx.profiles.rpm.apersonalize(
            user.user_id, query.input, options=query.options, config=config
        )
        return prediction.answer


METHODS: dict[str, MethodFactory] = {
    "zero_shot": ZeroShot,
    "random_k": RandomK,
    "bm25": BM25,
    "dense": Dense,
    "features_factors": lambda ctx: FeaturesFactors(ctx),
    "features_factors_pairs": lambda ctx: FeaturesFactors(ctx, pairs=True),
    "features_factors_pairs_cot": lambda ctx: FeaturesFactors(ctx, pairs=True, cot=True),
    "rpm": RPMMethod,
}
"""Every built-in method by name, in the order reports list them."""

ALL_METHODS: tuple[str, ...] = tuple(METHODS)


def resolve_methods(methods: Sequence[str | MethodFactory] | str | None) -> dict[str, MethodFactory]:
    """Method names (or a comma-separated string, or custom factories) to ``{name: factory}``.

    A custom factory is named by the ``name`` of the method it returns, read at run time; here it is
    keyed by its ``__name__``. ``None`` means every built-in method.

    Example:
        >>> list(resolve_methods("zero_shot, rpm"))
        ['zero_shot', 'rpm']
    """
    if methods is None:
        return dict(METHODS)
    items = [m.strip() for m in methods.split(",") if m.strip()] if isinstance(methods, str) else list(methods)
    if not items:
        raise ValueError(f"no methods given; choose from {list(METHODS)}")
    resolved: dict[str, MethodFactory] = {}
    for item in items:
        if isinstance(item, str):
            if item not in METHODS:
                raise ValueError(f"unknown method {item!r}; choose from {list(METHODS)}")
            resolved[item] = METHODS[item]
        else:
            resolved[getattr(item, "__name__", repr(item))] = item
    return resolved
