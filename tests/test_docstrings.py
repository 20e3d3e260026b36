"""Every docstring example in the package runs (the documentation cannot rot), and the main API has one."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import langchain_rpm

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(langchain_rpm.__path__, prefix="langchain_rpm.")
    if not info.name.endswith("__main__")
)

MUST_SHOW_USE = [
    "langchain_rpm.RPM",
    "langchain_rpm.RPMStore",
    "langchain_rpm.RPMRetriever",
    "langchain_rpm.FeatureExtractor",
    "langchain_rpm.FactorAggregator",
    "langchain_rpm.ReasoningPathBuilder",
    "langchain_rpm.ReasoningGenerator",
    "langchain_rpm.create_profile_build_graph",
    "langchain_rpm.create_inference_graph",
]


# ChatOpenAI's constructor creates (never connects) a socket to probe options; pytest-socket blocks it.
@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket:UserWarning")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):  # examples see their module's globals, as with --doctest-modules
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name} (output above)"


@pytest.mark.parametrize("path", MUST_SHOW_USE)
def test_the_main_api_has_a_runnable_example(path):
    obj = getattr(langchain_rpm, path.rsplit(".", 1)[1])
    tests = doctest.DocTestFinder(recurse=False).find(obj)
    runnable = [ex for test in tests for ex in test.examples if not ex.options.get(doctest.SKIP)]
    assert "Example:" in (obj.__doc__ or "") and len(runnable) >= 2, f"{path} needs an Example: that runs"
