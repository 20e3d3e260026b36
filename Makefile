# Two commands do all set-up on a fresh machine (Python >= 3.11 with venv):
#   make demo   -> creates .venv, installs langchain-rpm with every extra and the dev group, runs `rpm demo`
#   make test   -> same set-up, then the whole test suite (unit, integration, notebooks)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean

demo: $(STAMP)
	$(BIN)/rpm demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check langchain_rpm tests benchmarks examples scripts
	$(BIN)/ruff format --check langchain_rpm tests benchmarks examples scripts
	$(BIN)/mypy

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]" --group dev
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

clean:
	rm -rf $(VENV)
