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
