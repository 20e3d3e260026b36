"""Stage 6: feature-based retrieval — a user's examples nearest to a query's features (cosine).

Matching on the concatenated feature text finds examples with the same *decision structure*, not
merely the same topic. The user filter is mandatory.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.store import RPMStore
    >>> retriever = FeatureRetriever(RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> retriever.invoke({"user_id": "u1", "features": [{"name": "space battles"}]})
    []
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from langchain_rpm.stage import RPMStage
from langchain_rpm.store import RPMStore
from langchain_rpm.types import Feature, RetrievedExample


class RetrievalInput(BaseModel):
    """Whose examples to search, by which features; ``query`` is used only when there are no features."""

    user_id: str = Field(min_length=1)
    features: list[Feature] = Field(default_factory=list)
    query: str = ""
    k: int | None = Field(default=None, ge=0)


class FeatureRetriever(RPMStage[RetrievalInput, list[RetrievedExample]]):
    """Top-``k`` cosine retrieval of one user's reasoning examples by feature embedding.

    Args:
        store: The example store.
        k: Examples returned unless the input says otherwise.
    """

    input_model = RetrievalInput

    def __init__(self, store: RPMStore, *, k: int = 4) -> None:
        self.store = store
        self.k = k

    def _target(self, request: RetrievalInput) -> list[Feature] | str:
        return request.features or request.query

    def _run(self, input: RetrievalInput, config: RunnableConfig) -> list[RetrievedExample]:
        k = self.k if input.k is None else input.k
        return self.store.search(input.user_id, self._target(input), k)

    async def _arun(self, input: RetrievalInput, config: RunnableConfig) -> list[RetrievedExample]:
        k = self.k if input.k is None else input.k
        return await self.store.asearch(input.user_id, self._target(input), k)
