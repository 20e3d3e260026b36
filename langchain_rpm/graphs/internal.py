"""RPM's own model calls inside a host graph stay out of the host's ``stream_mode="messages"``.

A chat UI that streams a host agent's tokens should show the agent's messages, not the structured
calls RPM makes on its behalf (``FactorAwareFeatures``, ``PersonalizedAnswer``, the build's stages).
LangGraph's convention for such internal calls is the ``nostream`` tag
(``langgraph.constants.TAG_NOSTREAM``): its messages stream skips any model run that carries it. Every
RPM entry point that runs inside someone else's graph (the inference nodes, the agent tool, the
middleware, the retriever, the learning node) runs its model calls under :func:`internal_config`.
Progress stays visible on the ``custom`` stream.

Example:
    >>> internal_config({"tags": ["mine"]})["tags"]
    ['mine', 'nostream', 'rpm']
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.constants import TAG_NOSTREAM

INTERNAL_TAGS: list[str] = ["rpm", TAG_NOSTREAM]
"""Tags on every model call RPM makes for a host graph."""


def internal_config(config: RunnableConfig | None = None) -> RunnableConfig:
    """``config`` with RPM's internal tags added (its callbacks, metadata and other keys kept)."""
    return merge_configs(config, {"tags": list(INTERNAL_TAGS)})
