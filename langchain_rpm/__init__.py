"""langchain-rpm: reasoning-level personalization (RPM, arXiv 2505.21082) for LangChain and LangGraph.

The package follows the paper's pipeline: :mod:`~langchain_rpm.stages` (features, factors,
statistics, reasoning paths, generation), :mod:`~langchain_rpm.store` (examples in Chroma),
:mod:`~langchain_rpm.personalization` (profile -> features -> search), :mod:`~langchain_rpm.graphs`
(LangGraph graphs), :mod:`~langchain_rpm.agents` (tool, middleware, background learning) and the
:class:`RPM` facade. Everything else is importable from its module.

Example:
    >>> from langchain_rpm import LAMP2
    >>> LAMP2.normalize("Sci Fi")
    'sci-fi'
"""

import importlib
import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before anything can import onnxruntime
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # Chroma's client-side telemetry

from langchain_rpm._version import __version__
from langchain_rpm.errors import RPMError

if TYPE_CHECKING:
    from langchain_rpm.agents.middleware import RPMMiddleware
    from langchain_rpm.agents.tools import create_rpm_tool
    from langchain_rpm.graphs import (
        RPMContext,
        RPMState,
        add_rpm_nodes,
        create_inference_graph,
        create_profile_build_graph,
    )
    from langchain_rpm.retrievers import RPMRetriever
    from langchain_rpm.rpm import RPM
    from langchain_rpm.stages import FactorAggregator, FeatureExtractor, ReasoningGenerator, ReasoningPathBuilder
    from langchain_rpm.store import RPMStore
    from langchain_rpm.tasks import GLOBAL_OPINION_QA, LAMP2, LAMP3, LAMP5, TaskSpec
    from langchain_rpm.types import HistoryItem, Prediction, UserProfile

_HOMES = {
    "RPM": "langchain_rpm.rpm",
    "RPMStore": "langchain_rpm.store",
    "RPMRetriever": "langchain_rpm.retrievers",
    "FeatureExtractor": "langchain_rpm.stages",
    "FactorAggregator": "langchain_rpm.stages",
    "ReasoningPathBuilder": "langchain_rpm.stages",
    "ReasoningGenerator": "langchain_rpm.stages",
    "create_profile_build_graph": "langchain_rpm.graphs",
    "create_inference_graph": "langchain_rpm.graphs",
    "add_rpm_nodes": "langchain_rpm.graphs",
    "RPMState": "langchain_rpm.graphs",
    "RPMContext": "langchain_rpm.graphs",
    "create_rpm_tool": "langchain_rpm.agents.tools",
    "RPMMiddleware": "langchain_rpm.agents.middleware",  # needs the `agents` extra (langchain)
    "TaskSpec": "langchain_rpm.tasks",
    "LAMP2": "langchain_rpm.tasks",
    "LAMP3": "langchain_rpm.tasks",
    "LAMP5": "langchain_rpm.tasks",
    "GLOBAL_OPINION_QA": "langchain_rpm.tasks",
    "HistoryItem": "langchain_rpm.types",
    "UserProfile": "langchain_rpm.types",
    "Prediction": "langchain_rpm.types",
}
"""Where each root name lives; it is imported on first use, so ``import langchain_rpm`` stays light."""


def __getattr__(name: str) -> Any:
    """Import a root name from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'langchain_rpm' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(__all__)


__all__ = [
    "GLOBAL_OPINION_QA",
    "LAMP2",
    "LAMP3",
    "LAMP5",
    "RPM",
    "FactorAggregator",
    "FeatureExtractor",
    "HistoryItem",
    "Prediction",
    "RPMContext",
    "RPMError",
    "RPMMiddleware",
    "RPMRetriever",
    "RPMState",
    "RPMStore",
    "ReasoningGenerator",
    "ReasoningPathBuilder",
    "TaskSpec",
    "UserProfile",
    "__version__",
    "add_rpm_nodes",
    "create_inference_graph",
    "create_profile_build_graph",
    "create_rpm_tool",
]
