"""RPM, RPM without reasoning output, the paper's Table 2 ablation ladder and Table 3's retrieval grid.

Table 2 adds one input component at a time (answer only, unless noted):

===========================  =======================================================================
name                         what the model sees (K examples, ``ctx.k``)
===========================  =======================================================================
``zero_shot``                q' (in :mod:`~langchain_rpm.evaluation.baselines`)
``ladder_features_factors``  q', its features G_q', the user's factors with statistics C_u
``ladder_pairs``             + the K examples RPM retrieves, shown as (q_i, a_i)
``ladder_example_features``  + their features: (q_i, G_qi, a_i)
``ladder_generic_cot``       q' and K (q_i, r^CoT_i, a_i), r^CoT_i a task-generic explanation of a_i
                             (no features or factors; examples by the raw query, as RAG); reasoning, answer
``rpm``                      q', G_q', C_u and the K reasoning-enhanced examples; reasoning, answer
===========================  =======================================================================

Table 3 crosses the example *source* (raw pairs H_u, or the reasoning-enhanced examples S_u) with
the retrieval *key* (at random, BM25 on the query text, dense on the query text q', dense on the
features G_q'): over H_u ``icl``, ``bm25``, ``rag`` (in :mod:`~langchain_rpm.evaluation.baselines`) and
``raw_by_features``; over S_u, always in RPM's generation prompt, ``reasoned_random``,
``reasoned_bm25``, ``reasoned_by_query`` and ``rpm``. ``rpm_no_reasoning`` (Table 1) is RPM's inputs
with an answer-only output.

Every profile method shares one RPM build per user (:class:`~langchain_rpm.evaluation.method.SharedProfiles`)
and extracts the query's features itself (one call). The generic explanations r^CoT are made only for
the items a query retrieves, once per item (the paper does not say when; at temperature 0 the result
is the same as making them for the whole history up front, with fewer calls).

Example:
    >>> import tempfile, asyncio
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm import LAMP3, RPMStore
    >>> from langchain_rpm.evaluation import demo_dataset
    >>> from langchain_rpm.testing import demo_chat_model
    >>> ctx = MethodContext(demo_chat_model(), LAMP3,
    ...                     RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> user = demo_dataset("lamp3")[0]
    >>> method = RPMNoReasoning(ctx)
    >>> _ = asyncio.run(method.prepare_user(user))
    >>> asyncio.run(method.predict(user, user.queries[0])) in ["1", "2", "3", "4", "5"]
    True
"""

from __future__ import annotations

import asyncio

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm._plans import arun
from langchain_rpm.evaluation.baselines import PromptMethod, pair_shots, random_positions
from langchain_rpm.evaluation.cost import Spend
from langchain_rpm.evaluation.method import MethodContext
from langchain_rpm.evaluation.users import EvalQuery, EvalUser
from langchain_rpm.personalization import Personalizer
from langchain_rpm.prompts import render_examples, render_factors, render_features
from langchain_rpm.prompts.baselines import (
    FEATURES_FACTORS,
    FEATURES_FACTORS_PAIRS,
    FEW_SHOT,
    GENERIC_COT,
    GENERIC_REASONING,
    RPM_NO_REASONING,
    GenericReasoning,
    ReasonedAnswer,
    Shot,
    render_shots,
)
from langchain_rpm.types import Feature, ReasoningExample, RetrievedExample, UserProfile

__all__ = [
    "LadderExampleFeatures",
    "LadderFeaturesFactors",
    "LadderGenericCoT",
    "LadderPairs",
    "ProfileMethod",
    "RPMMethod",
    "RPMNoReasoning",
    "RawByFeatures",
    "ReasonedBM25",
    "ReasonedByQuery",
    "ReasonedRandom",
]


class ProfileMethod(PromptMethod):
    """A method on the user's RPM profile: the shared build, the query's features, feature retrieval."""

    async def prepare_user(self, user: EvalUser, config: RunnableConfig | None = None) -> Spend | None:
        """The shared profile build (its cost is charged to this method too)."""
        return (await self.ctx.profiles.ensure(user))[1]

    @property
    def personalizer(self) -> Personalizer:
        """RPM's personalization routine on the shared components."""
        return Personalizer(self.ctx.profiles.rpm.components)

    async def context(
        self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None
    ) -> tuple[UserProfile, list[Feature]]:
        """The profile and the query's factor-aware features (one LLM call)."""
        profile, _ = await self.ctx.profiles.ensure(user)
        features = await arun(self.personalizer.features_plan(profile, query.input, query.options, config))
        return profile, features

    async def by_features(self, user: EvalUser, features: list[Feature], query: EvalQuery) -> list[RetrievedExample]:
        """RPM's retrieval: the K examples whose feature text is nearest to the query's."""
        return await arun(self.personalizer.search_plan(user.user_id, features, query.input, self.ctx.k))

    def values(self, profile: UserProfile, features: list[Feature]) -> dict[str, str]:
        """The factors and features as the prompts show them."""
        return {"factors": render_factors(profile.factors, self.task), "features": render_features(features)}


class LadderFeaturesFactors(ProfileMethod):
    """Table 2, row 2: the query, its features and the user's factors; no examples."""

    name = "ladder_features_factors"

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """Answer from features and factors."""
        profile, features = await self.context(user, query, config)
        return await self.answer(FEATURES_FACTORS, query, config, self.values(profile, features))


class LadderPairs(ProfileMethod):
    """Table 2, row 3: + the retrieved examples as (input, answer) pairs."""

    name = "ladder_pairs"
    show_features = False

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """Answer from features, factors and the retrieved pairs."""
        profile, features = await self.context(user, query, config)
        hits = await self.by_features(user, features, query)
        shots = [
            Shot(
                input=hit.example.input,
                options=hit.example.options,
                answer=hit.example.answer,
                features=render_features(hit.example.features) if self.show_features else None,
            )
            for hit in hits
        ]
        values = {**self.values(profile, features), "pairs": render_shots(shots)}
        return await self.answer(FEATURES_FACTORS_PAIRS, query, config, values)


class LadderExampleFeatures(LadderPairs):
    """Table 2, row 4: + the examples' own features: (input, features, answer)."""

    name = "ladder_example_features"
    show_features = True


class RawByFeatures(ProfileMethod):
    """Table 3, H_u x G_q': raw (input, answer) pairs, retrieved by features, in the RAG prompt."""

    name = "raw_by_features"

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """Answer with the pairs RPM's retrieval finds, and nothing else of the profile."""
        _, features = await self.context(user, query, config)
        hits = await self.by_features(user, features, query)
        shots = [Shot(input=h.example.input, options=h.example.options, answer=h.example.answer) for h in hits]
        return await self.answer(FEW_SHOT, query, config, {"pairs": render_shots(shots)})


class RPMNoReasoning(ProfileMethod):
    """Table 1, "RPM (w/o Reasoning)": RPM's examples, factors and features; the answer only."""

    name = "rpm_no_reasoning"

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """Answer with RPM's inputs, without writing reasoning."""
        profile, features = await self.context(user, query, config)
        hits = await self.by_features(user, features, query)
        values = {**self.values(profile, features), "examples": render_examples(hits)}
        return await self.answer(RPM_NO_REASONING, query, config, values)


class ReasonedByQuery(ProfileMethod):
    """Table 3, S_u x q': RPM's generation, with the examples whose *inputs* are nearest to the query."""

    name = "reasoned_by_query"

    def __init__(self, ctx: MethodContext) -> None:
        """Keep each user's stored examples once loaded."""
        super().__init__(ctx)
        self._examples: dict[str, dict[str, ReasoningExample]] = {}

    async def stored(self, user: EvalUser) -> dict[str, ReasoningExample]:
        """The user's reasoning-enhanced examples S_u by history item id (an item the build left out has none)."""
        if user.user_id not in self._examples:
            stored = await self.ctx.store.aget_examples(user.user_id)
            self._examples[user.user_id] = {example.item_id: example for example in stored}
        return self._examples[user.user_id]

    async def ranked(
        self, user: EvalUser, query: EvalQuery, examples: dict[str, ReasoningExample]
    ) -> list[tuple[int, float]]:
        """``(history position, score)``, best first: here the cosine of the items' inputs against the query."""
        return await self.ctx.dense.ranked(user, query.input, len(user.history))

    async def by_query(self, user: EvalUser, query: EvalQuery) -> list[RetrievedExample]:
        """The stored examples of the first K positions :meth:`ranked` gives that have one."""
        examples = await self.stored(user)
        found = [(examples.get(user.history[i].id), score) for i, score in await self.ranked(user, query, examples)]
        return [RetrievedExample(example=ex, score=score) for ex, score in found if ex is not None][: self.ctx.k]

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """RPM's generator stage on the examples found by the query text."""
        profile, features = await self.context(user, query, config)
        generator = self.ctx.profiles.rpm.components.generator
        request = generator.coerce(
            {
                "user_id": user.user_id,
                "query": query.input,
                "options": query.options,
                "features": features,
                "factors": profile.factors,
                "examples": await self.by_query(user, query),
            }
        )
        prediction = await arun(generator.plan(request, config or {}))
        return prediction.answer


class ReasonedRandom(ReasonedByQuery):
    """Table 3, S_u x Random: RPM's generation with K reasoning-enhanced examples drawn at random (seeded as ICL)."""

    name = "reasoned_random"

    async def ranked(
        self, user: EvalUser, query: EvalQuery, examples: dict[str, ReasoningExample]
    ) -> list[tuple[int, float]]:
        """K random positions among the items that have an example (score 0: no similarity was measured)."""
        among = [i for i, item in enumerate(user.history) if item.id in examples]
        return [(i, 0.0) for i in random_positions(self.ctx, user, query, among)]


class ReasonedBM25(ReasonedByQuery):
    """Table 3, S_u x BM25: RPM's generation with the examples whose inputs best match the query by BM25."""

    name = "reasoned_bm25"

    async def ranked(
        self, user: EvalUser, query: EvalQuery, examples: dict[str, ReasoningExample]
    ) -> list[tuple[int, float]]:
        """Every history position with its BM25 score against the query, best first."""
        return self.ctx.lexical.ranked(user, query.input)


class LadderGenericCoT(PromptMethod):
    """Table 2, row 5: examples with a task-generic explanation of their answer; reasoning, then the answer."""

    name = "ladder_generic_cot"

    def __init__(self, ctx: MethodContext) -> None:
        """Bind the explanation and answer calls; explanations are cached per user and item."""
        super().__init__(ctx)
        self._explain = ctx.caller(GenericReasoning, "explain")
        self._reasoned = ctx.caller(ReasonedAnswer, "generate")
        self._explanations: dict[tuple[str, str], asyncio.Future[BaseModel]] = {}

    async def _explanation(self, user: EvalUser, position: int, config: RunnableConfig | None) -> str:
        item = user.history[position]
        key = (user.user_id, item.id)
        if key not in self._explanations:
            asked = EvalQuery(id=item.id, input=item.input, gold=item.response, options=item.options)
            prompt = self.fill(GENERIC_REASONING, asked, {"answer": item.response})
            self._explanations[key] = asyncio.ensure_future(self.reply(self._explain, prompt, config))
        reply = await asyncio.shield(self._explanations[key])
        return str(getattr(reply, "reasoning", reply))

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """Explain the K nearest history items (once each), then reason and answer."""
        positions = await self.ctx.dense.search(user, query.input, self.ctx.k)
        explanations = await asyncio.gather(*(self._explanation(user, i, config) for i in positions))
        shots = [
            Shot(input=shot.input, options=shot.options, answer=shot.answer, reasoning=why)
            for shot, why in zip(pair_shots(user, positions), explanations, strict=True)
        ]
        reply = await self.reply(self._reasoned, self.fill(GENERIC_COT, query, {"pairs": render_shots(shots)}), config)
        return self.task.check(getattr(reply, "answer", ""), query.options).answer


class RPMMethod(ProfileMethod):
    """The full method through the :class:`~langchain_rpm.RPM` facade (shared profile, ``apersonalize``)."""

    name = "rpm"

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """``RPM.apersonalize``: features, retrieval, reasoning and the answer its generator normalised."""
        prediction = await self.ctx.profiles.rpm.apersonalize(
            user.user_id, query.input, options=query.options, config=config
        )
        return prediction.answer
