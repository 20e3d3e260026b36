"""The baselines of the paper's Table 1 that need no RPM profile: zero-shot, ICL, RAG, PAG, each "+CoT", and BM25.

=============  ===================================================================================
name           what the model sees for a query (K = ``ctx.k``, 3 as in the paper)
=============  ===================================================================================
``zero_shot``  the task and the input
``icl``        + K random (input, answer) pairs of the user (seeded by run, user and query)
``rag``        + the K pairs whose inputs are nearest to the query by cosine of the store's
               embeddings (the paper uses Contriever; the offline default here is MiniLM)
``bm25``       + the K pairs whose inputs best match the query by BM25 (Table 3's lexical row)
``pag``        + a profile of the user the model writes from the top-10 pairs nearest to the query
               (one summary call **per query**: the paper's top-10 are retrieved for the query, and
               its cost table charges PAG nothing per user), and the top-K of those pairs
``*_cot``      ``zero_shot_cot``, ``icl_cot``, ``rag_cot``, ``pag_cot``: the same inputs, but the model
               reasons step by step before answering (a structured reply: ``reasoning``, then
               ``answer``; Table 1's "+CoT" rows)
=============  ===================================================================================

Every method answers through :class:`~langchain_rpm.stages.base.StructuredCaller` and returns the
reply normalised by ``task.check`` (an answer that does not fit is kept as the model wrote it and
scored as wrong), exactly as RPM's generator does.

Example:
    >>> import tempfile, asyncio
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm import LAMP2, RPMStore
    >>> from langchain_rpm.evaluation import demo_dataset
    >>> from langchain_rpm.testing import demo_chat_model
    >>> ctx = MethodContext(demo_chat_model(), LAMP2,
    ...                     RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> user = demo_dataset("lamp2")[0]
    >>> asyncio.run(ICL(ctx).predict(user, user.queries[0])) in LAMP2.labels
    True
"""

from __future__ import annotations

import random
from typing import Any

from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm._plans import arun
from langchain_rpm.evaluation.cost import Spend
from langchain_rpm.evaluation.method import MethodContext
from langchain_rpm.evaluation.users import EvalQuery, EvalUser
from langchain_rpm.prompts import render_input
from langchain_rpm.prompts.baselines import (
    FEW_SHOT,
    FEW_SHOT_COT,
    PAG_ANSWER,
    PAG_ANSWER_COT,
    PAG_SUMMARY,
    ZERO_SHOT,
    ZERO_SHOT_COT,
    DirectAnswer,
    ProfileSummary,
    ReasonedAnswer,
    Shot,
    render_shots,
)

__all__ = [
    "BM25",
    "ICL",
    "PAG",
    "PAG_PROFILE_ITEMS",
    "RAG",
    "ICLCoT",
    "PAGCoT",
    "PromptMethod",
    "RAGCoT",
    "ZeroShot",
    "ZeroShotCoT",
    "pair_shots",
    "random_positions",
]

PAG_PROFILE_ITEMS = 10
"""History pairs PAG summarises into the user's profile (the paper's top-10)."""


def pair_shots(user: EvalUser, positions: list[int]) -> list[Shot]:
    """The user's history items at ``positions`` as (input, answer) examples."""
    return [
        Shot(input=user.history[i].input, options=user.history[i].options, answer=user.history[i].response)
        for i in positions
    ]


def random_positions(ctx: MethodContext, user: EvalUser, query: EvalQuery, among: list[int]) -> list[int]:
    """K of the history positions ``among``, drawn at random, seeded by ``(run seed, user, query)``.

    The same draw for every method, so ICL's pairs and S_u x Random's examples are the same items when
    every item has an example.
    """
    rng = random.Random(f"{ctx.seed}:{user.user_id}:{query.id}")
    return rng.sample(among, min(ctx.k, len(among)))


class PromptMethod:
    """Shared plumbing: fill a prompt, call the model for a structured reply, check the answer.

    ``reasoned`` methods ask for ``{"reasoning", "answer"}`` (reasoning first) instead of the answer alone.
    """

    name = ""
    reasoned = False

    def __init__(self, ctx: MethodContext) -> None:
        """Answer with ``ctx``'s model, task and options."""
        self.ctx = ctx
        self.task = ctx.task
        schema = ReasonedAnswer if self.reasoned else DirectAnswer
        self._answerer = ctx.caller(schema, "generate")

    async def prepare_user(self, user: EvalUser, config: RunnableConfig | None = None) -> Spend | None:
        """Nothing to prepare by default."""
        return None

    def fill(self, template: ChatPromptTemplate, query: EvalQuery, values: dict[str, str]) -> Any:
        """``template`` with the task's instruction, answer format and the fenced input, plus ``values``."""
        return template.invoke(
            {
                "instruction": self.task.instruction,
                "answer_format": self.task.answer_format(query.options),
                "fenced_input": render_input(query.input, query.options),
                **values,
            }
        )

    async def reply(self, caller: Any, prompt: Any, config: RunnableConfig | None) -> BaseModel:
        """One structured call (retried on an invalid reply by the caller)."""
        result: BaseModel = await arun(caller.plan(prompt, config))
        return result

    async def answer(
        self, template: ChatPromptTemplate, query: EvalQuery, config: RunnableConfig | None, values: dict[str, str]
    ) -> str:
        """One answer call (with reasoning first when ``reasoned``); the answer normalised by the task."""
        reply = await self.reply(self._answerer, self.fill(template, query, values), config)
        return self.task.check(getattr(reply, "answer", ""), query.options).answer


class ZeroShot(PromptMethod):
    """The task and the input, nothing about the user."""

    name = "zero_shot"
    prompt = ZERO_SHOT

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """Answer from the input alone."""
        return await self.answer(self.prompt, query, config, {})


class ICL(PromptMethod):
    """K random history pairs, seeded by ``(run seed, user, query)``."""

    name = "icl"
    prompt = FEW_SHOT

    async def select(self, user: EvalUser, query: EvalQuery) -> list[int]:
        """Positions of the pairs shown."""
        return random_positions(self.ctx, user, query, list(range(len(user.history))))

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """Answer with the selected pairs in the prompt."""
        shots = pair_shots(user, await self.select(user, query))
        return await self.answer(self.prompt, query, config, {"pairs": render_shots(shots)})


class RAG(ICL):
    """The K pairs whose inputs are nearest to the query (cosine of the store's embeddings)."""

    name = "rag"

    async def select(self, user: EvalUser, query: EvalQuery) -> list[int]:
        """The nearest history inputs."""
        return await self.ctx.dense.search(user, query.input, self.ctx.k)


class BM25(ICL):
    """The K pairs whose inputs score highest by BM25 (``rank_bm25.BM25Okapi``) against the query."""

    name = "bm25"

    async def select(self, user: EvalUser, query: EvalQuery) -> list[int]:
        """The best BM25 matches."""
        return self.ctx.lexical.search(user, query.input, self.ctx.k)


class PAG(PromptMethod):
    """Profile-augmented generation: a profile summarised from the top-10 pairs, plus the top-K pairs."""

    name = "pag"
    prompt = PAG_ANSWER

    def __init__(self, ctx: MethodContext) -> None:
        """Also bind the summary call."""
        super().__init__(ctx)
        self._summary = ctx.caller(ProfileSummary, "summarize")

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """Summarise the nearest history into a profile, then answer with it."""
        nearest = await self.ctx.dense.search(user, query.input, max(PAG_PROFILE_ITEMS, self.ctx.k))
        prompt = PAG_SUMMARY.invoke(
            {"instruction": self.task.instruction, "pairs": render_shots(pair_shots(user, nearest))}
        )
        profile = await self.reply(self._summary, prompt, config)
        values = {
            "profile": getattr(profile, "summary", ""),
            "pairs": render_shots(pair_shots(user, nearest[: self.ctx.k])),
        }
        return await self.answer(self.prompt, query, config, values)


class ZeroShotCoT(ZeroShot):
    """Zero-shot + CoT: the task and the input; the model reasons step by step, then answers."""

    name = "zero_shot_cot"
    prompt = ZERO_SHOT_COT
    reasoned = True


class ICLCoT(ICL):
    """ICL + CoT: K random pairs; reasoning, then the answer."""

    name = "icl_cot"
    prompt = FEW_SHOT_COT
    reasoned = True


class RAGCoT(RAG):
    """RAG + CoT: the K nearest pairs; reasoning, then the answer."""

    name = "rag_cot"
    prompt = FEW_SHOT_COT
    reasoned = True


class PAGCoT(PAG):
    """PAG + CoT: the profile summary and the top-K pairs; reasoning, then the answer."""

    name = "pag_cot"
    prompt = PAG_ANSWER_COT
    reasoned = True
