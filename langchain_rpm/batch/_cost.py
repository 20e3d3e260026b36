"""What a batched run spent: batches, lines and tokens, priced at batch rates (half the list price).

Tokens are summed from the replies' own ``usage`` (what the provider bills). Lines that came back
from a batch are priced at :data:`BATCH_DISCOUNT` times the list price, requests that went online
(expired or failed lines) at the list price, and replies replayed from the ledger cost nothing in
this run (an earlier run paid for them).

Example:
    >>> usage = BatchUsage(batch_tokens=TokenUsage(llm_calls=2, input_tokens=2_000_000, output_tokens=500_000))
    >>> usage.dollars(), usage.list_dollars()
    (0.3, 0.6)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from langchain_rpm.types import TokenUsage

if TYPE_CHECKING:
    from langchain_rpm.evaluation.cost import Prices

BATCH_DISCOUNT = 0.5
"""The Batch API's price as a share of the list price (OpenAI: 50 %)."""


class BatchUsage(BaseModel):
    """Counters of one batched run and its cost (``prices``: an evaluation ``Prices``, default gpt-4o-mini).

    Example:
        >>> BatchUsage(online_tokens=TokenUsage(llm_calls=1, input_tokens=1_000_000)).dollars()
        0.15
    """

    batches: int = Field(default=0, description="Batches this run submitted (or tried to).")
    resumed_batches: int = Field(default=0, description="Batches of an earlier run this run polled again.")
    lines: int = Field(default=0, description="Requests this run wrote into batches.")
    shared: int = Field(default=0, description="Requests that joined an identical request already in flight.")
    replayed: int = Field(default=0, description="Requests answered from the ledger (paid by an earlier run).")
    online: int = Field(default=0, description="Requests sent online (expired, failed or refused lines).")
    batch_tokens: TokenUsage = Field(default_factory=TokenUsage, description="Billed at batch prices.")
    online_tokens: TokenUsage = Field(default_factory=TokenUsage, description="Billed at list prices.")

    def __add__(self, other: BatchUsage) -> BatchUsage:
        """Two runs' counters and tokens together.

        Example:
            >>> (BatchUsage(batches=1, lines=3) + BatchUsage(batches=2, online=1)).model_dump(include={"batches", "lines", "online"})
            {'batches': 3, 'lines': 3, 'online': 1}
        """
        counts = ("batches", "resumed_batches", "lines", "shared", "replayed", "online")
        return BatchUsage(
            **{name: getattr(self, name) + getattr(other, name) for name in counts},
            batch_tokens=self.batch_tokens + other.batch_tokens,
            online_tokens=self.online_tokens + other.online_tokens,
        )

    def dollars(self, prices: Prices | None = None) -> float:
        """This run's cost: batch lines at the batch price, online calls at the list price."""
        prices = prices or _list_prices()
        return round(BATCH_DISCOUNT * prices.dollars(self.batch_tokens) + prices.dollars(self.online_tokens), 10)

    def list_dollars(self, prices: Prices | None = None) -> float:
        """What the same tokens cost online, at the list price."""
        prices = prices or _list_prices()
        return round(prices.dollars(self.batch_tokens + self.online_tokens), 10)


def _list_prices() -> Prices:
    from langchain_rpm.evaluation.cost import Prices  # the evaluation's price table (gpt-4o-mini by default)

    return Prices()


def reply_tokens(body: dict[str, Any]) -> TokenUsage:
    """The tokens a chat-completion reply body reports (one call).

    Example:
        >>> reply_tokens({"usage": {"prompt_tokens": 12, "completion_tokens": 3}}).input_tokens
        12
    """
    usage = body.get("usage") or {}
    return TokenUsage(
        llm_calls=1,
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
    )
