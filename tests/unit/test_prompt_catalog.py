"""docs/prompts.md is generated from the code and must be current; prompts name the group a profile speaks for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from langchain_rpm.prompts.catalog import record_prompts, render_catalog
from langchain_rpm.tasks import GLOBAL_OPINION_QA, LAMP2

DOC = Path(__file__).resolve().parents[2] / "docs" / "prompts.md"


def test_docs_prompts_md_is_current():
    assert DOC.read_text(encoding="utf-8") == render_catalog(), (
        "docs/prompts.md is stale: python -m langchain_rpm.prompts.catalog > docs/prompts.md"
    )


def test_the_catalogue_shows_every_stage_of_both_presets_with_single_feature_assign_and_residual_under_paper():
    text = render_catalog()
    for heading in ("### paper: FactorAssignment", "### paper: ResidualAssignment", "### default: FactorAssignments"):
        assert text.count(heading) == 4  # one per task
    # the judge runs under paper for LaMP-5 and, for its label-free statistics (App. E.5), for GOQA
    assert text.count("### paper: FeatureJudgments") == 2 and "### default: JudgedReasoningOutput" in text


def test_goqa_prompts_name_the_country_and_never_speak_of_a_person():
    task = GLOBAL_OPINION_QA.for_group("Japan")
    prompts = record_prompts(task, "paper")
    by_stage = {tool: "\n".join(str(m.content) for m in messages) for tool, messages in prompts.items()}
    stages = ("ExtractedFeatures", "ProposedFactors", "FactorAssignment", "ResidualAssignment", "ReasoningOutput")
    for tool in (*stages, "PersonalizedAnswer"):
        assert "Japan" in by_stage[tool], tool
        assert not re.search(r"\bperson\b", by_stage[tool]), tool


@pytest.mark.parametrize("tool", ["ProposedFactors", "ReasoningOutput"])
def test_a_person_task_keeps_person_wording(tool):
    assert "this person" in "\n".join(str(m.content) for m in record_prompts(LAMP2, "paper")[tool])
