"""The drift monitor, its exact tests, its incremental round and RPM.refresh, on seeded synthetic users."""

from __future__ import annotations

import math

import pytest

from langchain_rpm import RPM, RPMStore
from langchain_rpm._exact_test import fisher_freeman_halton, holm, permutation_mean_test
from scripts.drift_users import drift_user
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model

SWITCH = 24


def test_fisher_exact_matches_the_textbook_value():
    # Fisher's tea-tasting-like 2 x 2 [[1, 9], [11, 3]]: two-sided p = 0.002759 (R: fisher.test)
    assert fisher_freeman_halton([[1, 9], [11, 3]]).p_value == pytest.approx(0.0027595, abs=1e-6)
    # 2 x 3 by hand: margins rows (2, 2), columns (2, 1, 1); observed [[2, 0, 0], [0, 1, 1]] has probability
    # C(2,2)/C(4,2) = 1/6, the least probable of all 4 tables ([[1,1,0]], [[1,0,1]] 2/6, [[0,1,1]] 1/6): p = 2/6
    assert fisher_freeman_halton([[2, 0, 0], [0, 1, 1]]).p_value == pytest.approx(1 / 3)


def test_monte_carlo_fallback_estimates_the_exact_p_value():
    table = [[1, 9, 3], [11, 3, 4]]
    exact = fisher_freeman_halton(table)
    sampled = fisher_freeman_halton(table, budget=1, draws=20_000, seed=3)
    assert (exact.method, sampled.method) == ("exact", "monte-carlo")
    assert sampled.p_value == pytest.approx(exact.p_value, abs=3 * math.sqrt(exact.p_value / 20_000) + 1e-4)


def test_permutation_mean_test_by_hand():
    # recent (5, 3) vs rest (1): the 3 deals of a pair from (5, 3, 1) sum to 8, 6, 4 around the centre
    # 2 * 9 / 3 = 6; the observed 8 is 2 away, as is 4: p = 2 / 3. Recent (5, 1) sums to the centre: p = 1
    assert permutation_mean_test([5, 3], [1]).p_value == pytest.approx(2 / 3)
    assert permutation_mean_test([5, 1], [3]).p_value == 1.0
    assert permutation_mean_test([4, 4], [4, 4]).p_value == 1.0


def test_holm_by_hand():
    assert holm([0.01, 0.02, 0.5]) == [0.03, 0.04, 0.5]


def _rpm(tmp_path, name, **settings):
    llm = rpm_fake_model()
    store = RPMStore(tmp_path / name, embeddings=CountingEmbeddings())
    return RPM(llm, task="lamp3", store=store, **settings), llm


def _first_trigger(rpm, items, step=2):
    """Items after the switch at which the monitor first crossed a threshold (None: never)."""
    rpm.build_user("u", items[:SWITCH])
    for end in range(SWITCH + step, len(items) + 1, step):
        profile = rpm.add_interactions("u", items[end - step : end])
        if profile.drift[-1].crossed:
            return end - SWITCH, profile
    return None, profile


@pytest.mark.parametrize("seed", [0, 3])
def test_the_monitor_fires_on_a_switched_user(tmp_path, seed):
    rpm, _ = _rpm(tmp_path, "switched")
    delay, profile = _first_trigger(rpm, drift_user(seed, n_items=40, switch_at=SWITCH, kind="rule"))
    assert delay is not None and delay <= 16
    record = profile.drift[-1]
    assert record.action == "reported" and record.calls == 0  # "report": measured, recorded, nothing paid
    assert any(line.startswith("Shipping: answers changed") for line in record.crossed)
    shipping = next(s for s in record.shifts if s.factor == "Shipping")
    assert shipping.adjusted_p <= 0.01 and shipping.method == "exact"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_monitor_stays_quiet_on_a_stable_user(tmp_path, seed):
    rpm, _ = _rpm(tmp_path, "stable")
    delay, profile = _first_trigger(rpm, drift_user(seed, n_items=40, switch_at=SWITCH, kind="stable"))
    assert delay is None
    assert len(profile.drift) == 8 and all(r.action == "none" and r.shifts for r in profile.drift)


def test_drift_on_runs_one_incremental_round_and_pays_only_for_changed_items(tmp_path):
    rpm, llm = _rpm(tmp_path, "on", drift="on")
    items = drift_user(0, n_items=40, switch_at=SWITCH, kind="topic")
    rpm.build_user("u", items[:SWITCH])
    before = {ex.item_id: ex for ex in rpm.store.get_examples("u")}
    for end in range(SWITCH + 2, 41, 2):
        llm.reset()
        profile = rpm.add_interactions("u", items[end - 2 : end])
        if profile.drift[-1].action == "incremental":
            break
    record = profile.drift[-1]
    assert record.added_factors == ["Romance"] and profile.factor("Romance") is not None
    # the update's own calls (2 per item: extraction, reasoning) + the round: Propose, Assign, rewrites
    assert llm.call_count == 2 * 2 + record.calls
    assert record.calls == 2 + len(record.rewritten_items)  # one Propose, one Assign call (batched), the rewrites
    stored = {ex.item_id: ex for ex in rpm.store.get_examples("u")}
    gifts = {i for i, ex in stored.items() if any(f.name in ("love story", "wedding") for f in ex.features)}
    assert set(record.rewritten_items) == gifts
    untouched = [i for i in before if i not in gifts]
    assert all(stored[i].reasoning == before[i].reasoning for i in untouched)
    # the monitor now compares against the regime it adapted to: the next update does not fire again
    nxt = rpm.add_interactions("u", items[end : end + 2])
    assert nxt.drift[-1].action == "none"


def test_refresh_dry_run_spends_nothing_and_refresh_pays_only_for_changed_items(tmp_path):
    rpm, llm = _rpm(tmp_path, "refresh")  # drift "report": the update only records
    items = drift_user(0, n_items=40, switch_at=SWITCH, kind="topic")
    rpm.build_user("u", items[:SWITCH])
    rpm.add_interactions("u", items[SWITCH:40])
    llm.reset()
    plan = rpm.refresh("u", dry_run=True).plan
    assert llm.call_count == 0 and plan.action == "incremental" and plan.reasons
    assert plan.work_items < 40 and plan.total_calls >= 2 and plan.tokens is not None
    report = rpm.refresh("u")
    assert report.calls == llm.call_count == report.profile.drift[-1].calls
    assert report.calls <= plan.total_calls
    assert report.profile.drift[-1].trigger == "refresh"
    assert llm.call_count == 2 + len(report.profile.drift[-1].rewritten_items)
    assert rpm.plan_refresh("u").action == "none"


def test_refresh_rebuilds_a_profile_built_with_an_older_prompt_version(tmp_path):
    rpm, llm = _rpm(tmp_path, "old")
    items = drift_user(1, n_items=12, switch_at=12, kind="stable")
    rpm.build_user("u", items)
    stored = rpm.store.get_profile("u")
    rpm.store.save_profile(stored.model_copy(update={"prompt_version": "0"}))
    llm.reset()
    plan = rpm.plan_refresh("u")
    assert plan.action == "rebuild" and plan.reasons[0].startswith("built with prompt version 0")
    assert plan.calls["extract"] == plan.calls["reason"] == 12
    report = rpm.refresh("u")
    assert report.calls == llm.call_count and report.calls <= plan.total_calls
    assert report.profile.prompt_version != "0" and report.profile.drift[-1].action == "rebuild"
    assert rpm.plan_refresh("u").action == "none"


def test_drift_off_records_nothing(tmp_path):
    rpm, _ = _rpm(tmp_path, "off", drift="off")
    items = drift_user(0, n_items=30, switch_at=SWITCH, kind="rule")
    rpm.build_user("u", items[:SWITCH])
    profile = rpm.add_interactions("u", items[SWITCH:])
    assert profile.drift == [] and profile.recent is None


def test_a_failed_round_keeps_the_update_and_leaves_it_scheduled_for_refresh(tmp_path, caplog):
    from langchain_rpm.testing import FakeStructuredChatModel
    from tests.support.rpm_fakes import rpm_responder

    broken = {"propose": True}

    def responder(messages, schema):
        if broken["propose"] and schema.get("title") == "ProposedFactors":
            raise RuntimeError("the model is down")
        return rpm_responder(messages, schema)

    store = RPMStore(tmp_path / "s", embeddings=CountingEmbeddings())
    rpm = RPM(FakeStructuredChatModel(responder=responder), "lamp3", store=store, drift="on", max_retries=0)
    items = drift_user(0, n_items=40, switch_at=SWITCH, kind="topic")
    broken["propose"] = False
    rpm.build_user("u", items[:SWITCH])
    broken["propose"] = True
    profile = rpm.add_interactions("u", items[SWITCH:40])
    assert profile.num_items == 40 and profile.drift[-1].action == "scheduled"
    assert "drift round not run (RuntimeError: the model is down); run RPM.refresh" in caplog.text
    broken["propose"] = False
    done = rpm.refresh("u")
    assert done.plan.action == "incremental" and done.profile.drift[-1].action == "incremental"
    assert [r.action for r in done.profile.drift] == ["incremental"]  # the scheduled record was completed


async def test_async_update_and_refresh_take_the_same_paths(tmp_path):
    rpm, llm = _rpm(tmp_path, "async", drift="on")
    items = drift_user(0, n_items=40, switch_at=SWITCH, kind="topic")
    await rpm.abuild_user("u", items[:SWITCH])
    profile = await rpm.aadd_interactions("u", items[SWITCH:40])
    assert profile.drift[-1].action == "incremental" and profile.factor("Romance") is not None
    llm.reset()
    assert (await rpm.arefresh("u", dry_run=True)).plan.action == "none" and llm.call_count == 0


def test_a_table_past_the_budget_goes_to_monte_carlo_without_enumerating_first(monkeypatch):
    module = fisher_freeman_halton.__globals__  # the exact-test module's namespace, whatever its name
    calls = []
    real = module["_log_probability"]
    monkeypatch.setitem(module, "_log_probability", lambda *a: calls.append(1) or real(*a))
    table = [[3, 2, 4, 1, 3, 2, 4, 1], [5, 6, 2, 7, 4, 6, 3, 5]]  # far more than 1,000 possible tables
    result = fisher_freeman_halton(table, budget=1_000, draws=200, seed=1)
    assert result.method == "monte-carlo"
    assert len(calls) <= 1 + 200  # the observed table, then one per draw: none spent on a listing cut short


def test_listing_tables_looks_up_each_columns_log_choose_once_not_per_table(monkeypatch):
    # The monitor runs inside the user's write lock: listing 2 x k tables must not recompute log C(c, x) per
    # table (it took 0.44 s of CPU for a 200-item LaMP-2 user; now ~0.09 s with the same p-values)
    module = fisher_freeman_halton.__globals__
    calls = []
    real = module["_log_choose"]
    monkeypatch.setitem(module, "_log_choose", lambda n, k: calls.append(1) or real(n, k))
    table = [[3, 2, 4, 1, 3], [5, 6, 2, 7, 4]]
    columns = [a + b for a, b in zip(*table, strict=True)]
    listed = module["_tables"](columns, sum(table[0]))
    result = fisher_freeman_halton(table)
    assert result.method == "exact" and listed > 500
    assert len(calls) <= sum(columns) + 2 * len(columns) + 3  # one table of log C(c_j, x), the observed row, 2 bases
