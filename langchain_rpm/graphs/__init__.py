"""LangGraph graphs: the profile build, the personalized inference, and composing RPM into your graph.

Example:
    >>> from langchain_rpm.graphs import RPMState
    >>> sorted(RPMState.__annotations__)[:2]
    ['rpm_examples', 'rpm_factors']
"""

from langchain_rpm.graphs.build import BuildSteps, create_profile_build_graph
from langchain_rpm.graphs.compose import RPMNodeNames, add_rpm_nodes, format_prediction, rpm_context
from langchain_rpm.graphs.inference import InferenceSteps, create_inference_graph
from langchain_rpm.graphs.state import (
    BuildState,
    RPMContext,
    RPMState,
    check_host_state,
    resolve_user_id,
    with_rpm_state,
)

__all__ = [
    "BuildState",
    "BuildSteps",
    "InferenceSteps",
    "RPMContext",
    "RPMNodeNames",
    "RPMState",
    "add_rpm_nodes",
    "check_host_state",
    "create_inference_graph",
    "create_profile_build_graph",
    "format_prediction",
    "resolve_user_id",
    "rpm_context",
    "with_rpm_state",
]
