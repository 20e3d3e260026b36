"""`rpm` prints user and model text literally: Rich markup never parsed, terminal escapes never sent."""

from __future__ import annotations

import pytest

from langchain_rpm.store import RPMStore
from tests.support.cli_run import run_main, write_rows
from tests.support.fault_server import FaultServer
from tests.support.rpm_fakes import rpm_http_responder
from tests.unit.conftest import MOVIE_HISTORY

pytestmark = pytest.mark.enable_socket

MARKUP_IDS = ["[red]evil[/red]", "[/]", "[bold"]
ESC = "\x1b"


@pytest.fixture
def store(tmp_path, capsys):
    """A store with users whose ids are Rich markup, built through the CLI."""
    rows = write_rows(
        tmp_path / "rows.jsonl",
        [{"user_id": user, **item} for user in [*MARKUP_IDS, "plain"] for item in MOVIE_HISTORY[:2]],
    )
    path = tmp_path / "store"
    with FaultServer(rpm_http_responder) as server:
        built = run_main(
            capsys, "--store", path, "--base-url", server.base_url, "--structured-output", "function_calling",
            "build", rows,
        )  # fmt: skip
    assert built.status == 0, built.err
    return path


def test_users_with_markup_ids_are_listed_literally(capsys, store):
    result = run_main(capsys, "--store", store, "users")
    assert result.status == 0, result.err
    assert sorted(result.out.split()) == sorted([*MARKUP_IDS, "plain"])


def test_inspect_and_forget_print_the_right_id(capsys, store):
    inspected = run_main(capsys, "--store", store, "inspect", "[/]")
    assert inspected.status == 0, inspected.err
    assert inspected.out.startswith("user '[/]': 2 items")
    forgot = run_main(capsys, "--store", store, "forget", "[red]evil[/red]")
    assert forgot.status == 0
    assert forgot.out.splitlines()[:2] == ["forgot user '[red]evil[/red]'", "examples removed: 2"]
    assert "[red]evil[/red]" not in run_main(capsys, "--store", store, "users").out.split()


def _edit_profile(store_path, owner, **changes):
    store = RPMStore(store_path)
    profile = store.get_profile(owner)
    store.save_profile(profile.model_copy(update=changes))


def test_llm_written_factor_names_with_markup_and_escapes_are_shown_literally(capsys, store):
    profile = RPMStore(store).get_profile("plain")
    factors = [f.model_copy(update={"name": f"[/]{f.name} [red]x[/red] {ESC}[2J"}) for f in profile.factors]
    _edit_profile(store, "plain", factors=factors)
    result = run_main(capsys, "--store", store, "inspect", "plain")
    assert result.status == 0, result.err
    assert "[red]x[/red]" in result.out and ESC not in result.out and "\\x1b[2J" in result.out


def test_control_characters_in_ids_never_reach_the_terminal(tmp_path, capsys, store):
    _edit_profile(store, "plain", user_id=f"{ESC}[31mred")  # a stored id from elsewhere
    listed = run_main(capsys, "--store", store, "users")
    assert ESC not in listed.out and "\\x1b[31mred" in listed.out
    rows = write_rows(
        tmp_path / "esc.jsonl", [{"user_id": f"{ESC}]0;title{ESC}\\", "input": "x", "response": "comedy"}]
    )
    refused = run_main(capsys, "--store", store, "build", rows, "--base-url", "http://127.0.0.1:9/v1")
    assert refused.status == 2 and ESC not in refused.err and "control characters" in refused.err
    asked = run_main(capsys, "--store", store, "--json", "ask", f"{ESC}[2Jghost", "q")
    assert asked.status == 2 and ESC not in asked.err
