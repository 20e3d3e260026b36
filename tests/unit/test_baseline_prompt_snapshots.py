"""Snapshots of the "+CoT" baselines' prompts and output schemas, as the model receives them (syrupy).

A deliberate change shows up as a snapshot diff to read and accept with ``--snapshot-update`` (and a bump
of ``BASELINE_PROMPT_VERSION``). Kept apart from ``test_prompt_snapshots.py`` (the pipeline's prompts).
"""

from __future__ import annotations

import pytest

from langchain_rpm import LAMP3
from langchain_rpm.evaluation import METHODS, EvalQuery, EvalUser, MethodContext
from langchain_rpm.store import RPMStore
from langchain_rpm.testing import FakeStructuredChatModel
from langchain_rpm.types import HistoryItem
from tests.unit.test_baselines import KeywordEmbeddings
from tests.unit.test_prompt_snapshots import Recording

REVIEWS = EvalUser(
    user_id="ada",
    task="lamp3",
    history=[
        HistoryItem(id="h1", input="The battery died after a week.", response="1"),
        HistoryItem(id="h2", input="Arrived late but works fine.", response="3"),
        HistoryItem(id="h3", input="Sturdy, quiet, and the battery lasts.", response="5"),
    ],
    queries=[EvalQuery(id="q1", input="The battery is weak and it came late.", gold="2")],
)


@pytest.mark.parametrize("name", ["zero_shot_cot", "icl_cot", "rag_cot", "pag_cot"])
async def test_cot_baseline_prompts(tmp_path, name, snapshot):
    recording = Recording()
    model = FakeStructuredChatModel(responder=recording, model="demo-deterministic")
    ctx = MethodContext(model, LAMP3, RPMStore(tmp_path / "store", embeddings=KeywordEmbeddings()), k=2)
    method = METHODS[name](ctx)
    await method.prepare_user(REVIEWS, None)
    await method.predict(REVIEWS, REVIEWS.queries[0], None)
    assert recording.calls[-1]["tool"] == "ReasonedAnswer"
    assert recording.calls == snapshot
