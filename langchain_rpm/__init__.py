"""langchain-rpm: reasoning-level personalization (RPM, arXiv 2505.21082) for LangChain and LangGraph.

Example:
    >>> from langchain_rpm import RPM, LAMP2
    >>> LAMP2.normalize("Sci Fi")
    'sci-fi'
"""

import os
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before anything can import onnxruntime
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # Chroma's client-side telemetry

from langchain_rpm.agent_tools import create_rpm_tool
from langchain_rpm.aggregator import AggregationInput, AggregationResult, FactorAggregator
from langchain_rpm.build_graph import BuildFailedError, ProfileBuildState, create_profile_build_graph
from langchain_rpm.cache import SQLiteCache
from langchain_rpm.components import RPMComponents
from langchain_rpm.context import MissingUserIdError, RPMContext, resolve_user_id
from langchain_rpm.embeddings import MiniLMEmbeddings, default_embeddings
from langchain_rpm.extractor import ExtractionInput, FeatureExtractor
from langchain_rpm.facade import RPM
from langchain_rpm.generator import GenerationInput, ReasoningGenerator
from langchain_rpm.host_graph import (
    MissingStateKeysError,
    RPMNodeNames,
    add_rpm_nodes,
    check_host_state,
    rpm_context,
    with_rpm_state,
)
from langchain_rpm.inference_graph import RPMState, UnknownUserError, create_inference_graph
from langchain_rpm.learning import (
    rpm_learn_node,
    schedule_learning,
    schedule_learning_in_thread,
    wait_for_learning,
)
from langchain_rpm.llm import StructuredOutputError, UsageTracker, resolve_chat_model
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.reasoning import ReasoningInput, ReasoningPathBuilder
from langchain_rpm.retriever import FeatureRetriever, RetrievalInput
from langchain_rpm.rpm_retriever import RPMRetriever
from langchain_rpm.store import EmbeddingMismatchError, RPMStore, features_text
from langchain_rpm.tasks import (
    GLOBAL_OPINION_QA,
    LAMP2,
    LAMP3,
    LAMP5,
    AnswerCheck,
    InvalidAnswerError,
    TaskKind,
    TaskSpec,
    get_task,
)
from langchain_rpm.types import (
    Factor,
    FactorJudgment,
    FactorStatistics,
    FailedItem,
    Feature,
    HistoryItem,
    Prediction,
    ReasoningExample,
    RetrievedExample,
    TokenUsage,
    UserProfile,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``RPMMiddleware`` needs the optional ``agents`` extra (``langchain``): imported on first use."""
    if name == "RPMMiddleware":
        from langchain_rpm.middleware import RPMMiddleware

        return RPMMiddleware
    raise AttributeError(f"module 'langchain_rpm' has no attribute {name!r}")


__all__ = [
    "GLOBAL_OPINION_QA",
    "LAMP2",
    "LAMP3",
    "LAMP5",
    "PROMPT_VERSION",
    "RPM",
    "AggregationInput",
    "AggregationResult",
    "AnswerCheck",
    "BuildFailedError",
    "EmbeddingMismatchError",
    "ExtractionInput",
    "Factor",
    "FactorAggregator",
    "FactorJudgment",
    "FactorStatistics",
    "FailedItem",
    "Feature",
    "FeatureExtractor",
    "FeatureRetriever",
    "GenerationInput",
    "HistoryItem",
    "InvalidAnswerError",
    "MiniLMEmbeddings",
    "MissingStateKeysError",
    "MissingUserIdError",
    "Prediction",
    "ProfileBuildState",
    "RPMComponents",
    "RPMContext",
    "RPMMiddleware",
    "RPMNodeNames",
    "RPMRetriever",
    "RPMState",
    "RPMStore",
    "ReasoningExample",
    "ReasoningGenerator",
    "ReasoningInput",
    "ReasoningPathBuilder",
    "RetrievalInput",
    "RetrievedExample",
    "SQLiteCache",
    "StructuredOutputError",
    "TaskKind",
    "TaskSpec",
    "TokenUsage",
    "UnknownUserError",
    "UsageTracker",
    "UserProfile",
    "__version__",
    "add_rpm_nodes",
    "check_host_state",
    "create_inference_graph",
    "create_profile_build_graph",
    "create_rpm_tool",
    "default_embeddings",
    "features_text",
    "get_task",
    "resolve_chat_model",
    "resolve_user_id",
    "rpm_context",
    "rpm_learn_node",
    "schedule_learning",
    "schedule_learning_in_thread",
    "wait_for_learning",
    "with_rpm_state",
]
