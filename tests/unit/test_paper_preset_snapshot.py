"""The paper preset is unchanged by time, recency and drift: a build and an update, and what they store.

The snapshot was written by this test on code without issue 22 (first 5c71f8a; after issue 18 changed
the paper preset on purpose, regenerated on the issue-18 branch alone and found identical to the merged
code's) and is compared unchanged here: the factors with their statistics (the table the reasoning and generation prompts
show), the stored examples and the calls by stage. Prompts have their own snapshots
(``test_prompt_snapshots.py``); a deliberate change of the method regenerates this one too.
"""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_rpm import RPM, RPMStore
from langchain_rpm.prompts._render import render_factors
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder
from tests.unit.conftest import MOVIE_HISTORY

UPDATE = [
    {"id": "n1", "input": "A wedding, a kiss, then a car chase.", "response": "romance"},
    {"id": "n2", "input": "Late robots fight aliens.", "response": "action"},
]


class Recorder:
    def __init__(self) -> None:
        self.prompts: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.prompts.append("\n".join(f"[{m.type}] {m.content}" for m in messages))
        return rpm_responder(messages, schema)


def test_paper_preset_build_and_update_are_unchanged(tmp_path, snapshot):
    recorder = Recorder()
    store = RPMStore(tmp_path, embeddings=CountingEmbeddings())
    rpm = RPM(FakeStructuredChatModel(responder=recorder), "lamp2", store=store, preset="paper", max_concurrency=1)
    rpm.build_user("ada", MOVIE_HISTORY[:4])
    profile = rpm.add_interactions("ada", MOVIE_HISTORY[4:] + UPDATE)
    examples = sorted(store.get_examples("ada"), key=lambda e: e.item_id)
    assert recorder.prompts  # the model was called (the prompts' wording is pinned elsewhere)
    assert {
        "factors": [f.model_dump(exclude_none=True) for f in profile.factors],
        "table": render_factors(profile.factors, rpm.task),
        "examples": [e.model_dump(exclude_none=True, exclude={"time"}) for e in examples],
        "profile": [profile.num_items, profile.num_features, profile.unfit_features, profile.cost.calls_by_stage],
    } == snapshot
