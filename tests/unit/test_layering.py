"""The package has no import cycle and no upward import, by the layers written in ``docs/architecture.md``.

The import graph is read with ``ast`` from every module of the package, imports inside functions included,
so a lazy import that closes a cycle is caught as well. Every check counts ``TYPE_CHECKING`` imports too
(naming a module in a type hint is still depending on it); one check counts only the imports that run.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import langchain_rpm

PACKAGE = Path(langchain_rpm.__file__).parent
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, bool]]:
    """The package modules ``name`` imports, each with whether the import runs (not under ``TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing_only = _type_checking_lines(tree)
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*kept, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, node.lineno not in typing_only))
    return found


def layers(text: str) -> list[tuple[str, list[str]]]:
    """The ```layers block: ``(layer, module prefixes)`` from the top layer down."""
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, f"no ```layers block in {ARCHITECTURE}"
    rows = [line.split(":", 1) for line in block.group(1).splitlines() if line.strip()]
    return [(layer.strip(), names.split()) for layer, names in rows]


def layer_of(module: str, table: list[tuple[str, list[str]]]) -> int | None:
    """The index (0 = top) of the longest prefix matching ``module``; ``None`` when none does."""
    best: tuple[int, int] | None = None
    for index, (_, names) in enumerate(table):
        for prefix in names:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


@functools.cache
def edges(root: Path) -> dict[str, list[tuple[str, bool]]]:
    """Every module's imports of package modules (see :func:`imports`)."""
    known = modules(root)
    return {name: imports(name, path, known) for name, path in known.items()}


def upward_imports(root: Path = PACKAGE, text: str | None = None) -> list[str]:
    """``a -> b`` for every import of a module in a higher layer (or of a module in no layer)."""
    table = layers(text if text is not None else ARCHITECTURE.read_text(encoding="utf-8"))
    graph = edges(root)
    wrong = [f"{name} is in no layer" for name in graph if layer_of(name, table) is None]
    for name, targets in graph.items():
        for target, _ in targets:
            source, dest = layer_of(name, table), layer_of(target, table)
            if source is not None and dest is not None and dest < source:
                wrong.append(f"{name} ({table[source][0]}) -> {target} ({table[dest][0]})")
    return sorted(set(wrong))


def cycles(root: Path = PACKAGE, *, type_hints: bool = True) -> list[list[str]]:
    """The strongly connected components (more than one module) of the imports (``type_hints=False``: that run)."""
    graph = {name: {t for t, runs in targets if runs or type_hints} for name, targets in edges(root).items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan; the package is a few hundred modules deep at most
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for name in graph:
        if name not in index:
            visit(name)
    return sorted(found)


def test_no_import_cycle_among_the_imports_that_run():
    assert cycles(type_hints=False) == []


def test_no_import_cycle_counting_type_hints():
    assert cycles() == []


def test_no_upward_import():
    assert upward_imports() == []


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path):
    """The checkers themselves fail on a planted lazy cycle and an upward import (so the tests above can fail)."""
    root = tmp_path / "langchain_rpm"
    (root / "cli").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "cli" / "__init__.py").write_text("")
    (root / "cli" / "_cache.py").write_text("from langchain_rpm.privacy import owner\n")
    (root / "privacy.py").write_text("owner = 1\ndef purge():\n    from langchain_rpm.cli._cache import x\n")
    table = "```layers\ncli: langchain_rpm.cli\nforgetting: langchain_rpm.privacy langchain_rpm\n```\n"
    assert cycles(root, type_hints=False) == [["langchain_rpm.cli._cache", "langchain_rpm.privacy"]]
    assert upward_imports(root, table) == ["langchain_rpm.privacy (forgetting) -> langchain_rpm.cli._cache (cli)"]


def test_privacy_imports_nothing_from_the_cli_or_batch():
    reached = {target for target, _ in edges(PACKAGE)["langchain_rpm.privacy"]}
    assert not {m for m in reached if m.startswith(("langchain_rpm.cli", "langchain_rpm.batch"))}
