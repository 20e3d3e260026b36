"""Bulk builds through the OpenAI Batch API: half price, one batch per build phase for all users, resumable.

- :class:`BatchBuilder` builds many users with a facade's configuration (``rpm build --batch-api``);
- :class:`BatchChatOpenAI` is the batching ``ChatOpenAI`` it builds with (usable in any graph);
- :class:`BatchCoordinator` collects requests into batches and answers them by ``custom_id``;
- :class:`BatchLedger` persists batch ids and replies, so a killed run resumes instead of paying again;
- :class:`BatchSettings` (poll interval, timeout, collection rule) and :class:`BatchUsage` (cost at
  batch prices).

See ``docs/batch.md``.

Example:
    >>> BatchSettings(poll_interval=5, timeout=3600).timeout
    3600
    >>> BatchUsage().dollars()
    0.0
"""

from langchain_rpm.batch._coordinator import BatchCoordinator
from langchain_rpm.batch._cost import BATCH_DISCOUNT, BatchUsage
from langchain_rpm.batch._jobs import BatchSettings
from langchain_rpm.batch.build import DEFAULT_STATE, BatchBuilder
from langchain_rpm.batch.ledger import BatchLedger
from langchain_rpm.batch.model import BatchChatOpenAI

__all__ = [
    "BATCH_DISCOUNT",
    "DEFAULT_STATE",
    "BatchBuilder",
    "BatchChatOpenAI",
    "BatchCoordinator",
    "BatchLedger",
    "BatchSettings",
    "BatchUsage",
]
