"""The public API is pinned: adding or removing a name is a deliberate change to this list."""

from __future__ import annotations

import subprocess
import sys

import langchain_rpm

PUBLIC = {
    # the facade, configuration and data types
    "RPM",
    "RPMComponents",
    "RPMStore",
    "RPMContext",
    "TaskSpec",
    "TaskKind",
    "AnswerCheck",
    "get_task",
    "LAMP2",
    "LAMP3",
    "LAMP5",
    "GLOBAL_OPINION_QA",
    "PROMPT_VERSION",
    "HistoryItem",
    "Feature",
    "Factor",
    "FactorStatistics",
    "FactorJudgment",
    "FailedItem",
    "ReasoningExample",
    "RetrievedExample",
    "UserProfile",
    "Prediction",
    "TokenUsage",
    # the stages and their inputs
    "FeatureExtractor",
    "ExtractionInput",
    "FactorAggregator",
    "AggregationInput",
    "AggregationResult",
    "ReasoningPathBuilder",
    "ReasoningInput",
    "FeatureRetriever",
    "RetrievalInput",
    "ReasoningGenerator",
    "GenerationInput",
    # graphs and composition
    "create_profile_build_graph",
    "create_inference_graph",
    "ProfileBuildState",
    "RPMState",
    "add_rpm_nodes",
    "check_host_state",
    "with_rpm_state",
    "rpm_context",
    "RPMNodeNames",
    "create_rpm_tool",
    "RPMMiddleware",
    "rpm_learn_node",
    "schedule_learning",
    "schedule_learning_in_thread",
    "wait_for_learning",
    "resolve_user_id",
    # retrieval, embeddings, models, caching
    "RPMRetriever",
    "MiniLMEmbeddings",
    "default_embeddings",
    "features_text",
    "resolve_chat_model",
    "UsageTracker",
    "SQLiteCache",
    # errors
    "BuildFailedError",
    "EmbeddingMismatchError",
    "InvalidAnswerError",
    "MissingStateKeysError",
    "MissingUserIdError",
    "StructuredOutputError",
    "UnknownUserError",
    "__version__",
}


def test_all_is_pinned():
    assert set(langchain_rpm.__all__) == PUBLIC
    assert len(langchain_rpm.__all__) == len(set(langchain_rpm.__all__))


def test_every_public_name_resolves():
    for name in PUBLIC:
        assert getattr(langchain_rpm, name) is not None, name


def test_importing_the_package_opens_no_socket_and_loads_no_agent_framework():
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k):\n    raise AssertionError('socket opened during import')\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\n"
        "import langchain_rpm\n"
        "assert 'langchain.agents' not in sys.modules\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
