"""The public API is pinned: adding or removing a root name is a deliberate change to this list."""

from __future__ import annotations

import subprocess
import sys

import langchain_rpm
from langchain_rpm import errors

PUBLIC = {
    # the facade, the store and the retriever
    "RPM",
    "RPMStore",
    "RPMRetriever",
    # the stages
    "FeatureExtractor",
    "FactorAggregator",
    "ReasoningPathBuilder",
    "ReasoningGenerator",
    # graphs and agents
    "create_profile_build_graph",
    "create_inference_graph",
    "add_rpm_nodes",
    "RPMState",
    "RPMContext",
    "create_rpm_tool",
    "RPMMiddleware",
    # tasks and the data a user meets first
    "TaskSpec",
    "LAMP2",
    "LAMP3",
    "LAMP5",
    "GLOBAL_OPINION_QA",
    "HistoryItem",
    "UserProfile",
    "Prediction",
    # errors and version
    "RPMError",
    "__version__",
}


def test_all_is_pinned():
    assert set(langchain_rpm.__all__) == PUBLIC
    assert len(langchain_rpm.__all__) == len(set(langchain_rpm.__all__)) <= 25


def test_every_public_name_resolves():
    for name in PUBLIC:
        assert getattr(langchain_rpm, name) is not None, name


def test_every_library_exception_derives_from_rpm_error():
    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(cls, errors.RPMError) for cls in classes)
    assert len(classes) >= 20


def test_the_version_has_one_source():
    from importlib.metadata import version

    from langchain_rpm._version import __version__

    assert langchain_rpm.__version__ == __version__ == version("langchain-rpm")


LEAN = (
    "import socket, sys\n"
    "def refuse(*a, **k):\n    raise AssertionError('socket opened during import')\n"
    "socket.socket.connect = refuse\nsocket.create_connection = refuse\n"
    "import langchain_rpm\n"
    "heavy = [m for m in sys.modules if m.split('.')[0] in ('rich', 'llama_cpp', 'cyllama', 'onnxruntime')\n"
    "         or m.startswith('langgraph.checkpoint.sqlite') or m.startswith('langchain.agents')\n"
    "         or m.startswith('langchain_rpm.cli') or m.startswith('langchain_rpm.evaluation')]\n"
    "print(heavy)\n"
)


def test_importing_the_package_opens_no_socket_and_loads_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", LEAN], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]


def test_using_the_core_loads_no_cli_server_manager_checkpointer_or_agent_framework():
    # chromadb depends on rich, and httpx (under LangGraph and Chroma) imports it whenever it is
    # installed, so rich may appear once the core is used; the package itself never imports it.
    code = (
        "import sys\nfrom langchain_rpm import RPM, RPMRetriever, create_rpm_tool, add_rpm_nodes\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('llama_cpp', 'cyllama') or m.startswith("
        "('langgraph.checkpoint.sqlite', 'langchain.agents', 'langchain_rpm.cli', 'langchain_rpm.evaluation'))])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]


def test_only_the_cli_and_evaluation_import_rich():
    import ast
    from pathlib import Path

    root = Path(langchain_rpm.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.relative_to(root).parts[0] in ("cli", "evaluation"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("rich", "llama_cpp", "cyllama")]
    assert offenders == []
