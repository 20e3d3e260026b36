"""A build request is validated once: the facade checks it and the graph's first step reuses that check."""

from __future__ import annotations

import pytest

from langchain_rpm._history import HistoryChecker
from langchain_rpm.testing import DEMO_HISTORY, demo_rpm


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_each_item_is_checked_once_per_build(monkeypatch, api):
    rpm = demo_rpm(user=None)
    checked: list[object] = []
    original = HistoryChecker.add

    def counting(self, raw, where):
        checked.append(raw)
        return original(self, raw, where)

    monkeypatch.setattr(HistoryChecker, "add", counting)
    if api == "sync":
        rpm.build_user("ada", DEMO_HISTORY)
    else:
        await rpm.abuild_user("ada", DEMO_HISTORY)
    assert len(checked) == len(DEMO_HISTORY)


def test_the_graph_alone_still_validates_its_input():
    from langchain_rpm.errors import InvalidHistoryError
    from langchain_rpm.graphs.state import RPMContext

    rpm = demo_rpm(user=None)
    with pytest.raises(InvalidHistoryError):
        rpm.build_graph.invoke(
            {"user_id": "ada", "history": [{"input": "", "response": "3"}]}, context=RPMContext("ada")
        )
