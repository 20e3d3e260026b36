"""The baselines of the paper's Table 1 that need no RPM profile: zero-shot, ICL, RAG, PAG (and BM25).

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
import re
from typing import Any

from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm.evaluation.cost import Spend
from langchain_rpm.evaluation.method import MethodContext, top_k
from langchain_rpm.evaluation.users import EvalQuery, EvalUser
from langchain_rpm.plans import arun
from langchain_rpm.prompts import render_input
from langchain_rpm.prompts.baselines import (
    FEW_SHOT,
    PAG_ANSWER,
    PAG_SUMMARY,
    ZERO_SHOT,
    DirectAnswer,
    ProfileSummary,
    Shot,
    render_shots,
)

__all__ = ["BM25", "ICL", "PAG", "PAG_PROFILE_ITEMS", "RAG", "PromptMethod", "ZeroShot", "pair_shots"]

PAG_PROFILE_ITEMS = 10
"""History pairs PAG summarises into the user's profile (the paper's top-10)."""


def pair_shots(user: EvalUser, positions: list[int]) -> list[Shot]:
    """The user's history items at ``positions`` as (input, answer) examples."""
    return [
        Shot(input=user.history[i].input, options=user.history[i].options, answer=user.history[i].response)
        for i in positions
    ]


class PromptMethod:
    """Shared plumbing: fill a prompt, call the model for a structured reply, check the answer."""

    name = ""

    def __init__(self, ctx: MethodContext) -> None:
        """Answer with ``ctx``'s model, task and options."""
        self.ctx = ctx
        self.task = ctx.task
        self._direct = ctx.caller(DirectAnswer, "generate")

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
        """One answer-only call; the answer normalised by the task."""
        reply = await self.reply(self._direct, self.fill(template, query, values), config)
        return self.task.check(getattr(reply, "answer", ""), query.options).answer


class ZeroShot(PromptMethod):
    """The task and the input, nothing about the user."""

    name = "zero_shot"

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """Answer from the input alone."""
        return await self.answer(ZERO_SHOT, query, config, {})


class ICL(PromptMethod):
    """K random history pairs, seeded by ``(run seed, user, query)``."""

    name = "icl"

    async def select(self, user: EvalUser, query: EvalQuery) -> list[int]:
        """Positions of the pairs shown."""
        rng = random.Random(f"{self.ctx.seed}:{user.user_id}:{query.id}")
        return rng.sample(range(len(user.history)), min(self.ctx.k, len(user.history)))

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """Answer with the selected pairs in the prompt."""
        shots = pair_shots(user, await self.select(user, query))
        return await self.answer(FEW_SHOT, query, config, {"pairs": render_shots(shots)})


class RAG(ICL):
    """The K pairs whose inputs are nearest to the query (cosine of the store's embeddings)."""

    name = "rag"

    async def select(self, user: EvalUser, query: EvalQuery) -> list[int]:
        """The nearest history inputs."""
        return await self.ctx.dense.search(user, query.input, self.ctx.k)


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class BM25(ICL):
    """The K pairs whose inputs score highest by BM25 (``rank_bm25.BM25Okapi``) against the query."""

    name = "bm25"

    def __init__(self, ctx: MethodContext) -> None:
        """Index each user's history on first use."""
        super().__init__(ctx)
        self._indexes: dict[str, Any] = {}

    async def select(self, user: EvalUser, query: EvalQuery) -> list[int]:
        """The best BM25 matches."""
        if user.user_id not in self._indexes:
            try:
                from rank_bm25 import BM25Okapi
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError("the bm25 method needs `rank-bm25`: pip install 'langchain-rpm[eval]'") from exc
            corpus = [_tokens(item.input) for item in user.history]
            self._indexes[user.user_id] = BM25Okapi(corpus) if any(corpus) else None
        index = self._indexes[user.user_id]
        if index is None:
            return list(range(min(self.ctx.k, len(user.history))))
        return top_k(list(index.get_scores(_tokens(query.input))), self.ctx.k)


class PAG(PromptMethod):
    """Profile-augmented generation: a profile summarised from the top-10 pairs, plus the top-K pairs."""

    name = "pag"

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
        return await self.answer(PAG_ANSWER, query, config, values)
