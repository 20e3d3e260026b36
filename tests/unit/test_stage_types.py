"""Every stage exported from ``langchain_rpm.stages`` has real LCEL types: schemas, a runnable tool, chain types.

The stages are discovered (every ``RPMStage`` subclass the package exports), so a new stage is covered
without editing this file; inputs come from :func:`tests.support.stage_samples.sample_input`.
"""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel, TypeAdapter

from langchain_rpm import GLOBAL_OPINION_QA, LAMP2, LAMP3, LAMP5
from langchain_rpm.testing import demo_chat_model
from tests.support.stage_samples import PIPELINE_STAGES, sample_input

pytestmark = pytest.mark.filterwarnings("ignore:This API is in beta")  # Runnable.as_tool is marked beta

STAGES = PIPELINE_STAGES


def test_every_pipeline_stage_is_discovered():
    names = {cls.__name__ for cls in STAGES}
    expected = {"FeatureExtractor", "FactorAggregator", "FeatureJudge", "ReasoningPathBuilder", "ReasoningGenerator"}
    assert expected <= names


@pytest.mark.parametrize("task", [LAMP2, LAMP3, GLOBAL_OPINION_QA, LAMP5], ids=lambda task: task.name)
@pytest.mark.parametrize("cls", STAGES, ids=[cls.__name__ for cls in STAGES])
def test_stage_schemas_tool_and_chain_types_work(cls, task):
    stage = cls(demo_chat_model(), task)
    assert issubclass(stage.input_schema, BaseModel) and stage.input_schema is cls.input_model
    assert stage.input_schema.model_json_schema()["properties"]  # describable for tools and servers
    assert "title" in stage.output_schema.model_json_schema()

    tool = stage.as_tool(name=cls.__name__, description=f"Run {cls.__name__}.")
    assert set(tool.args) == set(stage.input_schema.model_json_schema()["properties"])
    result = tool.invoke(sample_input(stage, task))  # the tool runs the stage on the demo model
    TypeAdapter(stage.OutputType).validate_python(result)  # and returns the declared output type

    chain = stage | RunnableLambda(lambda output: output)
    assert chain.input_schema.model_json_schema() == stage.input_schema.model_json_schema()
    assert chain.invoke(sample_input(stage, task)) == result  # the demo model is deterministic
