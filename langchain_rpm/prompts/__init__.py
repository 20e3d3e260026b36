r"""Every prompt RPM sends and every output schema the model must fill, in one package to audit.

One module per stage, each with its prompts and output schemas: :mod:`~langchain_rpm.prompts.extraction`,
:mod:`~langchain_rpm.prompts.factors`, :mod:`~langchain_rpm.prompts.judge`, :mod:`~langchain_rpm.prompts.reasoning`,
:mod:`~langchain_rpm.prompts.generation`; :mod:`~langchain_rpm.prompts._render` turns data into prompt
text (fenced, since it is untrusted); :mod:`~langchain_rpm.prompts.schemas` is the schemas' shared
base; :mod:`~langchain_rpm.prompts.baselines` holds the evaluation baselines' prompts.

Bump :data:`PROMPT_VERSION` whenever a prompt or schema changes; profiles record it, and LangChain's
LLM cache keys on the full prompt text, so a change never serves stale cached answers.

Example:
    >>> from langchain_rpm.prompts import PROMPT_VERSION, fence
    >>> fence("input", "hi")
    '<input>\nhi\n</input>'
"""

from langchain_rpm.prompts._render import (
    RETRY_ON_INVALID,
    answer_block,
    fence,
    fence_item,
    render_examples,
    render_factor_members,
    render_factors,
    render_features,
    render_input,
    render_pack,
)
from langchain_rpm.prompts.baselines import (
    FEATURES_FACTORS,
    FEATURES_FACTORS_PAIRS,
    FEW_SHOT,
    ZERO_SHOT,
    DirectAnswer,
    render_pairs,
)
from langchain_rpm.prompts.extraction import (
    COPIED_EXAMPLE_FEEDBACK,
    EXTRACTION_ITEM,
    FACTOR_AWARE_GUIDANCE,
    FEATURE_EXTRACTION,
    HISTORY_GUIDANCE,
    NO_FEATURE_FEEDBACK,
    PACKED_FEATURE_EXTRACTION,
    ExtractedFeature,
    ExtractedFeatures,
    ItemFeatures,
    PackedFeatures,
    factor_aware_schemas,
)
from langchain_rpm.prompts.factors import (
    ASSIGN_FACTOR,
    ASSIGN_FACTORS,
    PROPOSE_FACTORS,
    RESIDUAL_FACTOR,
    RESIDUAL_FACTORS,
    FactorAssignment,
    FactorAssignments,
    NumberedAssignment,
    ProposedFactors,
    ResidualAssignment,
    ResidualAssignments,
    render_candidates,
)
from langchain_rpm.prompts.generation import (
    ANSWER_SCHEMA_NAME,
    GENERATION,
    INVALID_ANSWER_FEEDBACK,
    GeneratedAnswer,
    answer_schema,
)
from langchain_rpm.prompts.judge import FEATURE_JUDGE, FeatureJudgments, render_indexed_features
from langchain_rpm.prompts.reasoning import (
    ANSWER_RULES,
    JUDGMENT_GUIDANCE,
    LEAK_FEEDBACK,
    PACKED_REASONING_PATH,
    REASONING_ITEM,
    REASONING_PATH,
    STATISTICS_STEPS,
    ItemJudgedReasoning,
    ItemReasoning,
    JudgedReasoningOutput,
    PackedJudgedReasoning,
    PackedReasoning,
    ReasoningOutput,
)
from langchain_rpm.prompts.schemas import OutputSchema

PROMPT_VERSION = "5"

__all__ = [
    "ANSWER_RULES",
    "ANSWER_SCHEMA_NAME",
    "ASSIGN_FACTOR",
    "ASSIGN_FACTORS",
    "COPIED_EXAMPLE_FEEDBACK",
    "EXTRACTION_ITEM",
    "FACTOR_AWARE_GUIDANCE",
    "FEATURES_FACTORS",
    "FEATURES_FACTORS_PAIRS",
    "FEATURE_EXTRACTION",
    "FEATURE_JUDGE",
    "FEW_SHOT",
    "GENERATION",
    "HISTORY_GUIDANCE",
    "INVALID_ANSWER_FEEDBACK",
    "JUDGMENT_GUIDANCE",
    "LEAK_FEEDBACK",
    "NO_FEATURE_FEEDBACK",
    "PACKED_FEATURE_EXTRACTION",
    "PACKED_REASONING_PATH",
    "PROMPT_VERSION",
    "PROPOSE_FACTORS",
    "REASONING_ITEM",
    "REASONING_PATH",
    "RESIDUAL_FACTOR",
    "RESIDUAL_FACTORS",
    "RETRY_ON_INVALID",
    "STATISTICS_STEPS",
    "ZERO_SHOT",
    "DirectAnswer",
    "ExtractedFeature",
    "ExtractedFeatures",
    "FactorAssignment",
    "FactorAssignments",
    "FeatureJudgments",
    "GeneratedAnswer",
    "ItemFeatures",
    "ItemJudgedReasoning",
    "ItemReasoning",
    "JudgedReasoningOutput",
    "NumberedAssignment",
    "OutputSchema",
    "PackedFeatures",
    "PackedJudgedReasoning",
    "PackedReasoning",
    "ProposedFactors",
    "ReasoningOutput",
    "ResidualAssignment",
    "ResidualAssignments",
    "answer_block",
    "answer_schema",
    "factor_aware_schemas",
    "fence",
    "fence_item",
    "render_candidates",
    "render_examples",
    "render_factor_members",
    "render_factors",
    "render_features",
    "render_indexed_features",
    "render_input",
    "render_pack",
    "render_pairs",
]
