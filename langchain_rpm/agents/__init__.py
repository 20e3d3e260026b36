"""RPM for agents: a tool, a ``create_agent`` middleware, and background learning.

``RPMMiddleware`` needs the ``agents`` extra (``langchain``) and is imported on first use.

Example:
    >>> from langchain_rpm.agents import create_rpm_tool, LearningExecutor
    >>> callable(create_rpm_tool)
    True
"""

from typing import Any

from langchain_rpm.agents.learning import LearningExecutor, learn, rpm_learn_node
from langchain_rpm.agents.tools import create_rpm_tool


def __getattr__(name: str) -> Any:
    """Import ``RPMMiddleware`` (and ``langchain``) only when it is asked for."""
    if name == "RPMMiddleware":
        from langchain_rpm.agents.middleware import RPMMiddleware

        return RPMMiddleware
    raise AttributeError(f"module 'langchain_rpm.agents' has no attribute {name!r}")


__all__ = ["LearningExecutor", "RPMMiddleware", "create_rpm_tool", "learn", "rpm_learn_node"]
