"""The RPM pipeline, one runnable per stage (paper §3): features, factors, reasoning paths, answers.

Offline (profile build): :class:`FeatureExtractor` (history mode) -> :class:`FactorAggregator`
(Propose-Assign-Select factors and their statistics; :class:`FeatureJudge` for open-ended tasks) ->
:class:`ReasoningPathBuilder`. Online (one query):
:class:`FeatureExtractor` (factor-aware mode) -> retrieval (:mod:`langchain_rpm.personalization`) ->
:class:`ReasoningGenerator`. Each stage has ``invoke``/``ainvoke``/``batch``/``abatch``.

Example:
    >>> from langchain_rpm.stages import FeatureExtractor
    >>> FeatureExtractor.output_type
    list[langchain_rpm.types.Feature]
"""

from langchain_rpm.stages.base import RPMStage, StructuredCaller
from langchain_rpm.stages.clustering import AggregationInput, AggregationResult, FactorAggregator, PASRound
from langchain_rpm.stages.extractor import ExtractionInput, FeatureExtractor
from langchain_rpm.stages.generator import GenerationInput, ReasoningGenerator
from langchain_rpm.stages.judge import FeatureJudge, JudgeInput
from langchain_rpm.stages.reasoning import ReasoningInput, ReasoningPathBuilder

__all__ = [
    "AggregationInput",
    "AggregationResult",
    "ExtractionInput",
    "FactorAggregator",
    "FeatureExtractor",
    "FeatureJudge",
    "GenerationInput",
    "JudgeInput",
    "PASRound",
    "RPMStage",
    "ReasoningGenerator",
    "ReasoningInput",
    "ReasoningPathBuilder",
    "StructuredCaller",
]
