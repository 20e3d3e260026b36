"""Every Python snippet in the README runs, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_snippets():
    assert len(snippets()) >= 4


def test_readme_snippets_run(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for number, code in enumerate(snippets(), 1):
        try:
            exec(compile(code, f"README.md snippet {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"README snippet {number} failed: {type(exc).__name__}: {exc}\n{code}")
    out = capsys.readouterr().out
    assert "query_features 1 / 1" in out and "generate 1 / 1" in out


def cli_lines() -> list[str]:
    """The commands of the README's "The command line" block, one per entry (``a; b`` gives two)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The command line") :]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block is not None
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [command.strip() for line in lines if line for command in line.split(";")]


@pytest.mark.enable_socket
def test_readme_cli_lines_run(monkeypatch, tmp_path, capsys):
    """Each README CLI line runs through the real entry point (the model: a loopback OpenAI-compatible fake)."""
    import json
    import shlex
    import shutil

    from langchain_rpm import cli
    from tests.support.fault_server import FaultServer
    from tests.support.rpm_fakes import rpm_http_responder
    from tests.unit.conftest import MOVIE_HISTORY

    monkeypatch.chdir(tmp_path)
    for name in ("OPENAI_API_KEY", "RPM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RPM_STORE_PATH", str(tmp_path / "store"))
    demo = README.parent / "langchain_rpm" / "data" / "demo"
    shutil.copy(demo / "lamp3_questions.json", "questions.json")
    shutil.copy(demo / "lamp3_outputs.json", "outputs.json")
    rows = [{"user_id": "ada", **item} for item in MOVIE_HISTORY]
    Path("interactions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    new = {"user_id": "ada", "id": "n1", "input": "A kiss in the rain.", "response": "romance"}
    Path("new.jsonl").write_text(json.dumps(new) + "\n")
    commands = cli_lines()
    assert len(commands) >= 9 and all(command.startswith("rpm ") for command in commands)
    with FaultServer(rpm_http_responder) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        for command in commands:
            argv = shlex.split(command)[1:]
            status = cli.main(["--structured-output", "function_calling", *argv])
            _out, err = capsys.readouterr()
            assert status == 0, f"`{command}` exited {status}:\n{err[-2000:]}"
            assert err.startswith(f"model: gpt-4o-mini at {server.base_url}") or argv[0] in (
                "inspect",
                "users",
                "forget",
            )
    assert (tmp_path / "results" / "results.md").exists()


def test_readme_paper_table_matches_the_papers_numbers():
    """The README's results table is the paper's: zero-shot and RPM rows of ``PAPER_RESULTS``, best prior of Table 1.

    "Best prior" is over every Table 1 row that is not RPM's, the "+CoT" rows included (they record only
    some cells), and the methods it names are exactly the rows that reach that number.
    """
    from langchain_rpm.evaluation.paper import PAPER_RESULTS

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Reproducing the paper") :]
    metrics = {"LaMP-2": ("lamp2", "accuracy"), "LaMP-3": ("lamp3", "mae"), "LaMP-5": ("lamp5", "rouge1")}
    metrics["GlobalOpinionQA"] = ("goqa", "accuracy")
    prior = {name: row for name, row in PAPER_RESULTS.items() if row.table == "Table 1" and not name.startswith("rpm")}
    assert {"rag_cot", "pag_cot", "fermi_cot"} <= set(prior)
    rows = [line for line in section.splitlines() if line.startswith("| ") and line.split()[1].rstrip(",") in metrics]
    assert len(rows) == 4
    for line in rows:
        task, metric = metrics[line.split()[1].rstrip(",")]
        cells = line.strip("|").split("|")[1:4]
        zero_shot, best, rpm = (float(cell.split()[0]) for cell in cells)
        scores = {name: s for name, row in prior.items() if (s := row.scores.get(task, {}).get(metric)) is not None}
        pick = min if metric == "mae" else max
        assert (zero_shot, best, rpm) == (
            scores["zero_shot"],
            pick(scores.values()),
            PAPER_RESULTS["rpm"].scores[task][metric],
        )
        named = cells[1].split("(", 1)[1].rstrip(") ").split(", ")
        reaching = {prior[name].label.split(" (")[0] for name, score in scores.items() if score == best}
        assert set(named) == reaching, line
